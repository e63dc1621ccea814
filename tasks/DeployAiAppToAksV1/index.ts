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
import { decideCanary } from '../common/kube/strategy/decision';
import { trackName } from '../common/kube/strategy/canary';
import { publishDecision } from '../common/pipeline/canaryReport';

export async function run(): Promise<void> {
  await runTask(__dirname, readDeployInputs, async (inputs, agent) => {
    const network = agent.network();
    const signal = agent.lifetime.signal;
    // The gate comes first: nothing reaches the cluster for an image whose provenance fails.
    const provenance = inputs.provenance && (await verifyProvenance(inputs.provenance, { network, signal, log: agent.log, retryPolicy: retryPolicy(), onSecret: (value) => agent.setSecret(value) }));
    if (inputs.cluster.kind === 'aks' && inputs.cluster.privateCluster && !inputs.decision) return deployThroughRunCommand(agent, inputs, inputs.cluster, provenance);
    const access = await resolveKubeconfig(inputs.cluster, { setSecret: (value) => agent.setSecret(value), log: agent.log, network, signal });
    const cluster = connectCluster(access, { network, signal });
    try {
      if (inputs.decision) {
        // A later run's promote or abort of a canary left waiting (canaryDecision manual).
        const decided = await decideCanary(inputs.decision, { cluster, log: agent.log, network, signal });
        publishDecision(agent, decided, inputs.decision.action);
        if (!decided.deployed) return agent.loc('DeployCanaryAbortedOnRequest', decided.state?.image ?? '-', inputs.decision.request.app.appName);
        publishDeployed(agent, { model: decided.state?.model ?? inputs.model }, decided.deployed, provenance);
        return agent.loc('DeploySucceeded', decided.deployed.deploymentName, decided.deployed.revision, decided.deployed.deployedImage, decided.deployed.service?.url ?? decided.deployed.service?.ip ?? '-');
      }
      const delivery = await deliver(inputs.deploy, inputs.strategy, { cluster, log: agent.log, network, signal });
      publishStrategy(agent, delivery);
      const held = delivery.pending;
      if (held) return agent.loc('DeployCanaryPending', held.image, held.step.reached, held.step.of, held.step.percent, held.outcome, held.recommendation, trackName(held.app, 'canary'));
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
