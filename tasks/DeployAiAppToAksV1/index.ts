/**
 * DeployAiAppToAks@1: roll the baked image out to the cluster, watched to completion and rolled back
 * when it fails, then report where it answers. Thin by design: read inputs, reach the cluster, call
 * the core once, publish outputs. Errors are reported by runTask.
 */
import { verifyProvenance } from '../common/attest/verify';
import { resolveKubeconfig } from '../common/azure/clusterAccess';
import { deployThroughRunCommand } from '../common/pipeline/privateCluster';
import { DeployAiAppToAksOutputs as Outputs } from '../common/contract/deployAiAppToAks';
import { connectCluster } from '../common/kube/cluster';
import { deployApp, RolloutFailedError } from '../common/kube/deploy';
import { runTask } from '../common/pipeline/agent';
import { readDeployInputs } from '../common/pipeline/deployInputs';
import { publishDeployed, publishRolloutFailure } from '../common/pipeline/deployPublish';
import { retryPolicy } from '../common/net/retry';
import { runCanary } from '../common/kube/strategy/canary';
import { TaskError } from '../common/errors';
import { canaryStepsMarkdown, writeCanaryReport } from '../common/pipeline/canaryReport';

export async function run(): Promise<void> {
  await runTask(__dirname, readDeployInputs, async (inputs, agent) => {
    const network = agent.network();
    const signal = agent.lifetime.signal;
    // The gate comes first: nothing reaches the cluster for an image whose provenance fails.
    const provenance = inputs.provenance && (await verifyProvenance(inputs.provenance, { network, signal, log: agent.log, retryPolicy: retryPolicy(), onSecret: (value) => agent.setSecret(value) }));
    if (inputs.cluster.kind === 'aks' && inputs.cluster.privateCluster) return deployThroughRunCommand(agent, inputs, inputs.cluster, provenance);
    const access = await resolveKubeconfig(inputs.cluster, { setSecret: (value) => agent.setSecret(value), log: agent.log, network, signal });
    const cluster = connectCluster(access.kubeconfig, { network, signal });
    try {
      if (inputs.canary) {
        const canary = await runCanary(inputs.deploy, inputs.canary, { cluster, log: agent.log, network, signal });
        agent.setOutput(Outputs.verdict, canary.verdict);
        if (canary.report) {
          agent.setOutput(Outputs.analysisReport, writeCanaryReport(agent, canary.report));
          agent.uploadSummary(agent.loc('SummaryTitleCanary'), canaryStepsMarkdown(agent.loc('SummaryTitleCanary'), canary.report));
        }
        if (!canary.deployed) throw new TaskError('DeployCanaryNotPromoted', [inputs.deploy.image, canary.verdict]);
        publishDeployed(agent, inputs, canary.deployed, provenance);
        return agent.loc('DeploySucceeded', canary.deployed.deploymentName, canary.deployed.revision, canary.deployed.deployedImage, canary.deployed.service?.url ?? canary.deployed.service?.ip ?? '-');
      }
      const result = await deployApp(inputs.deploy, { cluster, log: agent.log, network, signal });
      publishDeployed(agent, inputs, result, provenance);
      return agent.loc('DeploySucceeded', result.deploymentName, result.revision, result.deployedImage, result.service?.url ?? result.service?.ip ?? '-');
    } catch (error) {
      if (error instanceof RolloutFailedError) publishRolloutFailure(agent, inputs, error, provenance);
      throw error;
    } finally {
      cluster.close();
    }
  });
}

void run();
