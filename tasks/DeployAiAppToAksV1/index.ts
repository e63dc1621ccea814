/**
 * DeployAiAppToAks@1: roll the baked image out to the cluster, watched to completion and rolled back
 * when it fails, then report where it answers. Thin by design: read inputs, reach the cluster, call
 * the core once, publish outputs. Errors are reported by runTask.
 */
import { verifyProvenance } from '../common/attest/verify';
import { resolveKubeconfig } from '../common/azure/clusterAccess';
import { deployThroughRunCommand } from '../common/pipeline/privateCluster';
import { connectCluster } from '../common/kube/cluster';
import { RolloutFailedError } from '../common/kube/deploy';
import { runTask } from '../common/pipeline/agent';
import { readDeployInputs } from '../common/pipeline/deployInputs';
import { notDelivered, publishDeployed, publishRolloutFailure, publishStrategy } from '../common/pipeline/deployPublish';
import { retryPolicy } from '../common/net/retry';
import { deliver } from '../common/kube/strategy/deliver';

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
      const delivery = await deliver(inputs.deploy, inputs.strategy, { cluster, log: agent.log, network, signal });
      publishStrategy(agent, delivery);
      if (!delivery.deployed) throw notDelivered(inputs, delivery);
      const result = delivery.deployed;
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
