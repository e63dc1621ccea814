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
import { deployApp, type DeployResult, RolloutFailedError } from '../common/kube/deploy';
import { runTask, type Agent } from '../common/pipeline/agent';
import { type DeployTaskInputs, readDeployInputs } from '../common/pipeline/deployInputs';
import { markdownSummary } from '../common/pipeline/summary';
import { retryPolicy } from '../common/net/retry';
import { runCanary, trackName } from '../common/kube/strategy/canary';
import { decideCanary } from '../common/kube/strategy/decision';
import { TaskError } from '../common/errors';
import { canaryStepsMarkdown, publishDecision, writeCanaryReport } from '../common/pipeline/canaryReport';

export async function run(): Promise<void> {
  await runTask(__dirname, readDeployInputs, async (inputs, agent) => {
    const network = agent.network();
    const signal = agent.lifetime.signal;
    // The gate comes first: nothing reaches the cluster for an image whose provenance fails.
    const provenance = inputs.provenance && (await verifyProvenance(inputs.provenance, { network, signal, log: agent.log, retryPolicy: retryPolicy(), onSecret: (value) => agent.setSecret(value) }));
    if (inputs.cluster.kind === 'aks' && inputs.cluster.privateCluster && !inputs.decision) return deployThroughRunCommand(agent, inputs, inputs.cluster);
    const access = await resolveKubeconfig(inputs.cluster, { setSecret: (value) => agent.setSecret(value), log: agent.log, network, signal });
    const cluster = connectCluster(access.kubeconfig, { network, signal });
    try {
      if (inputs.decision) {
        const decided = await decideCanary(inputs.decision, { cluster, log: agent.log, network, signal });
        publishDecision(agent, decided, inputs.decision.action);
        if (!decided.deployed) return agent.loc('DeployCanaryAbortedOnRequest', decided.state?.image ?? '-', inputs.decision.request.app.appName);
        publish(agent, { model: decided.state?.model ?? inputs.model }, decided.deployed, provenance);
        return agent.loc('DeploySucceeded', decided.deployed.deploymentName, decided.deployed.revision, decided.deployed.deployedImage, decided.deployed.service?.url ?? decided.deployed.service?.ip ?? '-');
      }
      if (inputs.canary) {
        const canary = await runCanary(inputs.deploy, inputs.canary, { cluster, log: agent.log, network, signal });
        agent.setOutput(Outputs.verdict, canary.verdict);
        if (canary.report) {
          agent.setOutput(Outputs.analysisReport, writeCanaryReport(agent, canary.report));
          agent.uploadSummary(agent.loc('SummaryTitleCanary'), canaryStepsMarkdown(agent.loc('SummaryTitleCanary'), canary.report));
        }
        const held = canary.state;
        if (held) return agent.loc('DeployCanaryPending', held.image, held.step.reached, held.step.of, held.step.percent, held.outcome, held.recommendation, trackName(held.app, 'canary'));
        if (!canary.deployed) throw new TaskError('DeployCanaryNotPromoted', [inputs.deploy.image, canary.verdict]);
        publish(agent, inputs, canary.deployed, provenance);
        return agent.loc('DeploySucceeded', canary.deployed.deploymentName, canary.deployed.revision, canary.deployed.deployedImage, canary.deployed.service?.url ?? canary.deployed.service?.ip ?? '-');
      }
      const result = await deployApp(inputs.deploy, { cluster, log: agent.log, network, signal });
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

function publish(agent: Agent, inputs: Pick<DeployTaskInputs, 'model'>, result: DeployResult, provenance: VerifiedProvenance | undefined): void {
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

function publishFailure(agent: Agent, inputs: Pick<DeployTaskInputs, 'model'>, failure: RolloutFailedError, provenance: VerifiedProvenance | undefined): void {
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

function summarize(agent: Agent, inputs: Pick<DeployTaskInputs, 'model'>, rows: [string, string][], provenance: VerifiedProvenance | undefined): void {
  const title = agent.loc('SummaryTitleDeploy');
  const model = inputs.model.modelVersion ? `${inputs.model.modelVersion}${inputs.model.modelDigest ? ` (${inputs.model.modelDigest})` : ''}` : '(not given)';
  const signed: [string, string][] = provenance ? [['Provenance', `signed by key ${provenance.signer}; model ${provenance.model}`]] : [];
  agent.uploadSummary(title, markdownSummary(title, [...rows.slice(0, 2), ['Model', model], ...signed, ...rows.slice(2)]));
}

void run();
