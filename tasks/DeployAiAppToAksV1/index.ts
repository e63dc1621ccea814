/**
 * DeployAiAppToAks@1: roll the baked image out to the cluster, watched to completion and rolled back
 * when it fails, then report where it answers. Thin by design: read inputs, reach the cluster, call
 * the core once, publish outputs. Errors are reported by runTask.
 */
import { verifyProvenance, type VerifiedProvenance } from '../common/attest/verify';
import { resolveKubeconfig } from '../common/azure/clusterAccess';
import { deployThroughRunCommand } from '../common/pipeline/privateCluster';
import { DeployAiAppToAksOutputs as Outputs } from '../common/contract/deployAiAppToAks';
import { connectCluster } from '../common/kube/cluster';
import { type DeployResult, RolloutFailedError } from '../common/kube/deploy';
import { runTask, type Agent } from '../common/pipeline/agent';
import { type DeployTaskInputs, readDeployInputs } from '../common/pipeline/deployInputs';
import { markdownSummary } from '../common/pipeline/summary';
import { retryPolicy } from '../common/net/retry';
import { type Delivery, deliver } from '../common/kube/strategy/deliver';
import { TaskError } from '../common/errors';
import { canaryStepsMarkdown, writeCanaryReport } from '../common/pipeline/canaryReport';
import { blueGreenMarkdown } from '../common/pipeline/blueGreenSummary';

export async function run(): Promise<void> {
  await runTask(__dirname, readDeployInputs, async (inputs, agent) => {
    const network = agent.network();
    const signal = agent.lifetime.signal;
    // The gate comes first: nothing reaches the cluster for an image whose provenance fails.
    const provenance = inputs.provenance && (await verifyProvenance(inputs.provenance, { network, signal, log: agent.log, retryPolicy: retryPolicy(), onSecret: (value) => agent.setSecret(value) }));
    if (inputs.cluster.kind === 'aks' && inputs.cluster.privateCluster) return deployThroughRunCommand(agent, inputs, inputs.cluster);
    const access = await resolveKubeconfig(inputs.cluster, { setSecret: (value) => agent.setSecret(value), log: agent.log, network, signal });
    const cluster = connectCluster(access.kubeconfig, { network, signal });
    try {
      const delivery = await deliver(inputs.deploy, inputs.strategy, { cluster, log: agent.log, network, signal });
      publishStrategy(agent, delivery);
      if (!delivery.deployed) throw notDelivered(inputs, delivery);
      const result = delivery.deployed;
      publish(agent, inputs, result, provenance);
      return agent.loc('DeploySucceeded', result.deploymentName, result.revision, result.deployedImage, result.service?.url ?? result.service?.ip ?? '-');
    } catch (error) {
      if (error instanceof RolloutFailedError) publishFailure(agent, inputs, error, provenance);
      throw error;
    } finally {
      cluster.close();
    }
  });
}

/** What a progressive strategy adds: its verdict, the canary's report and step table, blue-green's colours. */
function publishStrategy(agent: Agent, delivery: Delivery): void {
  if (delivery.verdict) agent.setOutput(Outputs.verdict, delivery.verdict);
  if (delivery.blueGreen) {
    agent.setOutput(Outputs.activeColor, delivery.blueGreen.activeColour);
    agent.uploadSummary(agent.loc('SummaryTitleBlueGreen'), blueGreenMarkdown(agent.loc('SummaryTitleBlueGreen'), delivery.blueGreen, delivery.verdict ?? ''));
  }
  if (delivery.report) {
    agent.setOutput(Outputs.analysisReport, writeCanaryReport(agent, delivery.report));
    agent.uploadSummary(agent.loc('SummaryTitleCanary'), canaryStepsMarkdown(agent.loc('SummaryTitleCanary'), delivery.report));
  }
}

function notDelivered(inputs: DeployTaskInputs, delivery: Delivery): TaskError {
  const verdict = delivery.verdict ?? 'aborted';
  if (delivery.blueGreen) return new TaskError('DeployBlueGreenNotSwitched', [inputs.deploy.image, verdict, delivery.blueGreen.stage, delivery.blueGreen.detail ?? '']);
  return new TaskError('DeployCanaryNotPromoted', [inputs.deploy.image, verdict]);
}

function publish(agent: Agent, inputs: DeployTaskInputs, result: DeployResult, provenance: VerifiedProvenance | undefined): void {
  agent.setOutput(Outputs.deploymentName, result.deploymentName);
  agent.setOutput(Outputs.revision, String(result.revision));
  agent.setOutput(Outputs.deployedImage, result.deployedImage);
  agent.setOutput(Outputs.serviceIp, result.service?.ip ?? '');
  agent.setOutput(Outputs.serviceHostname, result.service?.hostname ?? '');
  agent.setOutput(Outputs.serviceUrl, result.service?.url ?? '');
  agent.setOutput(Outputs.rolledBack, 'false');
  agent.setOutput(Outputs.modelVerified, String(result.modelVerified));
  agent.setOutput(Outputs.workloads, JSON.stringify(result.workloads));
  summarize(agent, inputs, [
    ['Deployment', `${result.namespace}/${result.deploymentName}, revision ${result.revision}${result.unchanged ? ' (already running: nothing rolled out)' : ''}`],
    ['Image', result.deployedImage],
    ['Address', result.service?.url ?? result.service?.hostname ?? result.service?.ip ?? '(no Service)'],
    ['Model verified', result.modelVerified ? 'yes: every ready pod reported the deployed digest' : 'no (not asked)'],
    ['Rolled back', 'no'],
  ], provenance);
}

function publishFailure(agent: Agent, inputs: DeployTaskInputs, failure: RolloutFailedError, provenance: VerifiedProvenance | undefined): void {
  agent.setOutput(Outputs.deploymentName, failure.deployment);
  agent.setOutput(Outputs.rolledBack, String(failure.rolledBack));
  agent.setOutput(Outputs.modelVerified, 'false');
  if (failure.rolledBack) {
    agent.setOutput(Outputs.revision, String(failure.previousRevision ?? ''));
    agent.setOutput(Outputs.deployedImage, (failure.previousImages ?? []).join(','));
  }
  summarize(agent, inputs, [
    ['Deployment', `${failure.namespace}/${failure.deployment}: revision ${failure.revision} failed (${failure.detail})`],
    ['Image', `${failure.image} (failed)`],
    ['Rolled back', failure.rolledBack ? `yes, to revision ${failure.previousRevision}: ${(failure.previousImages ?? []).join(', ')}` : 'no'],
  ], provenance);
}

function summarize(agent: Agent, inputs: DeployTaskInputs, rows: [string, string][], provenance: VerifiedProvenance | undefined): void {
  const title = agent.loc('SummaryTitleDeploy');
  const model = inputs.model.modelVersion ? `${inputs.model.modelVersion}${inputs.model.modelDigest ? ` (${inputs.model.modelDigest})` : ''}` : '(not given)';
  const signed: [string, string][] = provenance ? [['Provenance', `signed by key ${provenance.signer}; model ${provenance.model}`]] : [];
  agent.uploadSummary(title, markdownSummary(title, [...rows.slice(0, 2), ['Model', model], ...signed, ...rows.slice(2)]));
}

void run();
