/**
 * Deploy's private-cluster path (privateCluster: true): reach the cluster through AKS run command
 * only (kube/privateDeploy.ts), then publish what kubectl reported. kubectl's output is peer text: it
 * reaches the log only as a message argument, through the agent's output boundary.
 */
import { type AzureClusterAccess, resolveRunCommandTarget } from '../azure/clusterAccess';
import { DeployAiAppToAksOutputs as Outputs } from '../contract/deployAiAppToAks';
import { TaskError } from '../errors';
import { deployPrivate } from '../kube/privateDeploy';
import type { Agent } from './agent';
import type { DeployTaskInputs } from './deployInputs';

export async function deployThroughRunCommand(agent: Agent, inputs: DeployTaskInputs, access: AzureClusterAccess): Promise<string> {
  const { target, clusterToken } = await resolveRunCommandTarget(access, { setSecret: (value) => agent.setSecret(value), log: agent.log, network: agent.network(), signal: agent.lifetime.signal });
  try {
    const result = await deployPrivate(inputs.deploy, target, { log: agent.log, ...(clusterToken ? { clusterToken } : {}), canary: Boolean(inputs.canary) });
    agent.setOutput(Outputs.deploymentName, result.workloads[0]?.split('/')[1] ?? '');
    agent.setOutput(Outputs.deployedImage, inputs.deploy.image);
    agent.setOutput(Outputs.rolledBack, 'false');
    return agent.loc('DeployPrivateSucceeded', result.workloads.join(', '), target.clusterName, result.logs);
  } catch (error) {
    if (error instanceof TaskError && error.key === 'AksPrivateDeployFailed') agent.setOutput(Outputs.rolledBack, 'true');
    throw error;
  }
}
