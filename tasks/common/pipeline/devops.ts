import type { OidcContext } from '../azure/oidc';
import type { Agent } from './agent';

/** Where and as whom the job talks to Azure DevOps itself (for the workload identity OIDC token). */
export type DevOpsContext = OidcContext;

/** The job's own connection, as Microsoft's tasks read it: the SystemVssConnection endpoint first. */
export function devOpsContextOf(agent: Agent, serviceConnectionId: string): DevOpsContext {
  const system = agent.endpoint('SystemVssConnection');
  const accessToken = system?.secretAuthParameter('AccessToken') ?? agent.secretVariable('System.AccessToken');
  return Object.freeze({
    collectionUri: system?.url ?? agent.variable('System.CollectionUri') ?? agent.variable('System.TeamFoundationCollectionUri'),
    projectId: agent.variable('System.TeamProjectId'),
    hub: agent.variable('System.HostType'),
    planId: agent.variable('System.PlanId'),
    jobId: agent.variable('System.JobId'),
    accessToken,
    serviceConnectionId,
  });
}
