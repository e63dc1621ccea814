/**
 * Where source pipelineArtifact reads, and as whom. By default the job's own organization and
 * project with System.AccessToken (Bearer), as Microsoft's DownloadPipelineArtifact does. With input
 * azureDevOpsConnection, another organization through an "Azure Repos/Team Foundation Server"
 * service connection (connectedService:ExternalTfs), read as Microsoft's
 * DownloadExternalBuildArtifacts reads it: the endpoint URL is the organization (collection) URL,
 * and authorization scheme Token holds a personal access token in parameter apitoken.
 */
import { FetchLatestModelInputs } from '../contract/fetchLatestModel';
import { basicAuthorizationOf, devOpsCredential, type DevOpsCredential } from '../devops/credential';
import { TaskError } from '../errors';
import { InputError } from './inputError';
import type { Agent } from './agent';
import { jobConnectionOf } from './devops';

export interface DevOpsTarget {
  /** The organization (collection) URL, ending with '/'. */
  readonly collectionUri: string;
  /** A project name or id. */
  readonly project: string;
  readonly credential: DevOpsCredential;
}

const PROJECT_RULES =
  "use the project's name or id: a name has at most 64 characters, none of \\ / : * ? \" ' < > ; # $ { } , + = [ ] | or control characters, does not start with _ or . nor end with ., and is not a reserved name such as CON or DefaultCollection";
/** The input that names the service connection. */
const DEVOPS_CONNECTION_INPUT = FetchLatestModelInputs.azureDevOpsConnection.name;
const PROJECT_INPUT = FetchLatestModelInputs.project.name;
// Names Azure DevOps reserves (naming restrictions: system reserved names).
const RESERVED = /^(aux|con|nul|prn|com\d|com10|lpt\d|defaultcollection|server|signalr|web|app_\w+|bin|web\.config)$/i;

export function readDevOpsTarget(agent: Agent): DevOpsTarget {
  const connectionId = agent.input(DEVOPS_CONNECTION_INPUT);
  const project = projectInput(agent);
  if (connectionId) {
    // A connection reaches an organization; which project holds the pipeline is not implied.
    if (!project) throw new InputError(PROJECT_INPUT, 'InputRequired', [PROJECT_INPUT, `${DEVOPS_CONNECTION_INPUT} is set (a service connection reaches an organization; project names the one that holds the pipeline)`]);
    return { ...fromServiceConnection(agent, connectionId), project };
  }
  const job = jobConnectionOf(agent);
  if (!job.collectionUri) throw new TaskError('DevOpsContextMissing', ['System.CollectionUri']);
  const ownProject = project ?? job.projectId;
  if (!ownProject) throw new TaskError('DevOpsContextMissing', ['System.TeamProjectId']);
  if (!job.accessToken) throw new TaskError('DevOpsAccessTokenMissing', []);
  return { collectionUri: withSlash(job.collectionUri), project: ownProject, credential: devOpsCredential('bearer', job.accessToken) };
}

function fromServiceConnection(agent: Agent, id: string): Omit<DevOpsTarget, 'project'> {
  const endpoint = agent.endpoint(id);
  if (!endpoint) throw new InputError(DEVOPS_CONNECTION_INPUT, 'EndpointMissing', [DEVOPS_CONNECTION_INPUT, id]);
  const scheme = endpoint.scheme ?? '(none)';
  if (scheme.toLowerCase() !== 'token') throw new InputError(DEVOPS_CONNECTION_INPUT, 'DevOpsConnectionSchemeUnsupported', [DEVOPS_CONNECTION_INPUT, id, scheme]);
  const token = endpoint.secretAuthParameter('apitoken');
  if (!token) throw new InputError(DEVOPS_CONNECTION_INPUT, 'DevOpsConnectionTokenMissing', [DEVOPS_CONNECTION_INPUT, id]);
  agent.setSecret(basicAuthorizationOf(token));
  return { collectionUri: organizationUrl(endpoint.url, id), credential: devOpsCredential('pat', token, id) };
}

/** The connection's URL: an organization (https://dev.azure.com/fabrikam) or a TFS collection. */
function organizationUrl(text: string | undefined, id: string): string {
  const shown = (text ?? '(none)').replace(/\/\/[^/@]*@/, '//');
  const invalid = () => new InputError(DEVOPS_CONNECTION_INPUT, 'InputInvalid', [DEVOPS_CONNECTION_INPUT, id, `the service connection's URL '${shown}' is not an organization URL; edit the connection to use one such as https://dev.azure.com/fabrikam`]);
  let url: URL;
  try {
    url = new URL(text ?? '');
  } catch {
    throw invalid();
  }
  if (!/^https?:$/.test(url.protocol) || url.search || url.hash || url.username || url.password) throw invalid();
  return withSlash(url.href);
}

function projectInput(agent: Agent): string | undefined {
  const project = agent.input(PROJECT_INPUT);
  if (project === undefined) return undefined;
  const valid = project.length <= 64 && !/[\\/:*?"'<>;#${},+=[\]|\x00-\x1f\x7f]/.test(project) && !/^[_.]|\.$/.test(project) && !RESERVED.test(project);
  if (!valid) throw new InputError(PROJECT_INPUT, 'InputInvalid', [PROJECT_INPUT, project, PROJECT_RULES]);
  return project;
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
