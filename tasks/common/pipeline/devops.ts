import type { OidcContext } from '../azure/oidc';
import type { PipelineRunInfo } from '../kube/traceability';
import type { PipelineRun } from '../oci/modelImage';
import type { Agent } from './agent';

/** Where and as whom the job talks to Azure DevOps itself (for the workload identity OIDC token). */
export type DevOpsContext = OidcContext;

/** The job's own Azure DevOps connection: collection, project and access token. */
export interface JobConnection {
  readonly collectionUri: string | undefined;
  readonly projectId: string | undefined;
  /** System.AccessToken, registered as a secret as it is read. */
  readonly accessToken: string | undefined;
}

/** Read as Microsoft's tasks read it: the SystemVssConnection endpoint first, then the variables. */
export function jobConnectionOf(agent: Agent): JobConnection {
  const system = agent.endpoint('SystemVssConnection');
  return {
    collectionUri: system?.url ?? agent.variable('System.CollectionUri') ?? agent.variable('System.TeamFoundationCollectionUri'),
    projectId: agent.variable('System.TeamProjectId'),
    accessToken: system?.secretAuthParameter('AccessToken') ?? agent.secretVariable('System.AccessToken'),
  };
}

export function devOpsContextOf(agent: Agent, serviceConnectionId: string): DevOpsContext {
  return Object.freeze({
    ...jobConnectionOf(agent),
    hub: agent.variable('System.HostType'),
    planId: agent.variable('System.PlanId'),
    jobId: agent.variable('System.JobId'),
    serviceConnectionId,
  });
}

/** The run that is doing this: its page, the commit and where the code lives, for provenance. */
export function devOpsRunOf(agent: Agent): PipelineRun {
  const collection = agent.variable('System.CollectionUri');
  const project = agent.variable('System.TeamProject');
  const buildId = agent.variable('Build.BuildId');
  const runUrl = collection && project && buildId ? `${collection.replace(/\/?$/, '/')}${encodeURIComponent(project)}/_build/results?buildId=${buildId}` : undefined;
  return { sourceUrl: agent.variable('Build.Repository.Uri'), revision: agent.variable('Build.SourceVersion'), runUrl, pipelineName: agent.variable('Build.DefinitionName') };
}

/** The run as Microsoft's Kubernetes tasks describe it in their traceability annotations. */
export function pipelineRunInfoOf(agent: Agent): PipelineRunInfo {
  const hostType = agent.variable('System.HostType');
  const release = hostType?.toLowerCase() === 'release';
  return {
    hostType,
    collectionUri: agent.variable('System.CollectionUri') ?? agent.variable('System.TeamFoundationCollectionUri'),
    collectionId: agent.variable('System.CollectionId'),
    project: agent.variable('System.TeamProject'),
    pipelineName: agent.variable(release ? 'Release.DefinitionName' : 'Build.DefinitionName'),
    pipelineId: agent.variable(release ? 'Release.DefinitionId' : 'System.DefinitionId'),
    jobName: agent.variable('Agent.JobName'),
    runName: agent.variable(release ? 'Release.ReleaseId' : 'Build.BuildNumber'),
    runId: agent.variable(release ? 'Release.ReleaseId' : 'Build.BuildId'),
  };
}
