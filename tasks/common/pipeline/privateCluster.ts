/**
 * Deploy's private-cluster path (privateCluster: true): reach the cluster through AKS run command
 * only (kube/privateDeploy.ts), then publish the result as the normal path does (deployPublish.ts).
 * kubectl's output is peer text: it reaches the log only as a message argument, through the agent's
 * output boundary.
 */
import type { VerifiedProvenance } from '../attest/verify';
import { type AzureClusterAccess, resolveRunCommandTarget } from '../azure/clusterAccess';
import { DeployAiAppToAksOutputs as Outputs } from '../contract/deployAiAppToAks';
import { TaskError } from '../errors';
import { RolloutFailedError } from '../kube/deploy';
import { deployPrivate } from '../kube/privateDeploy';
import type { Agent } from './agent';
import type { DeployTaskInputs } from './deployInputs';
import { publishDeployed, publishRolloutFailure } from './deployPublish';

export async function deployThroughRunCommand(agent: Agent, inputs: DeployTaskInputs, access: AzureClusterAccess, provenance?: VerifiedProvenance): Promise<string> {
  const { target, clusterToken } = await resolveRunCommandTarget(access, { setSecret: (value) => agent.setSecret(value), log: agent.log, network: agent.network(), signal: agent.lifetime.signal });
  try {
    const result = await deployPrivate(inputs.deploy, target, { log: agent.log, ...(clusterToken ? { clusterToken } : {}), canary: Boolean(inputs.canary) });
    publishDeployed(agent, inputs, result, provenance);
    return agent.loc('DeployPrivateSucceeded', result.workloads.map((w) => `${w.kind.toLowerCase()}/${w.name}`).join(', '), target.clusterName, result.logs);
  } catch (error) {
    if (error instanceof RolloutFailedError) publishRolloutFailure(agent, inputs, error, provenance);
    else if (error instanceof TaskError && error.key === 'AksPrivateDeployFailed') agent.setOutput(Outputs.rolledBack, 'true');
    throw error;
  }
}
