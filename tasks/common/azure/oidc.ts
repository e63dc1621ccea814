/**
 * The pipeline's OIDC token for a workload identity federation service connection, asked of Azure
 * DevOps the way Microsoft's tasks ask for it: TaskApi.createOidcToken on the job's plan, with the
 * job's access token. Entra ID then trades that token for an access token (a client assertion).
 */
import { TaskApi } from 'azure-devops-node-api/TaskApi';
import { devOpsApi, devOpsVerdict, requestHandler, statusOf } from '../devops/http';
import { devOpsCredential } from '../devops/credential';
import { RemoteError, TaskError } from '../errors';
import type { Log } from '../log';
import { DEVOPS_CLIENT_OPTIONS } from '../net/adapters/devopsHttp';
import { StoppedError } from '../net/errors';
import type { Network } from '../net/network';
import { type RetryPolicy, retry, retryPolicy } from '../net/retry';
/** The pipeline variables the request needs; undefined when the agent did not set one. */
export interface OidcContext {
  /** System.CollectionUri */
  readonly collectionUri: string | undefined;
  /** System.TeamProjectId */
  readonly projectId: string | undefined;
  /** System.HostType: build, release, ... */
  readonly hub: string | undefined;
  /** System.PlanId */
  readonly planId: string | undefined;
  /** System.JobId */
  readonly jobId: string | undefined;
  /** System.AccessToken */
  readonly accessToken: string | undefined;
  /** The service connection's id (a GUID): the token's subject names it. */
  readonly serviceConnectionId: string;
}

export interface OidcOptions {
  readonly network: Network;
  /** The task's cancel and deadline. */
  readonly signal?: AbortSignal;
  readonly retry?: RetryPolicy;
  readonly log?: Log;
}

/** An answer without a token: the service had a hiccup, worth another try. */
class NoOidcToken extends Error {
  constructor() {
    super('the response held no oidcToken');
  }
}

type CompleteContext = { [K in keyof OidcContext]: string };

function checked(context: OidcContext): CompleteContext {
  const variables: [keyof OidcContext, string][] = [
    ['collectionUri', 'System.CollectionUri'],
    ['projectId', 'System.TeamProjectId'],
    ['hub', 'System.HostType'],
    ['planId', 'System.PlanId'],
    ['jobId', 'System.JobId'],
  ];
  if (!context.accessToken) throw new TaskError('AzureOidcAccessTokenMissing', [context.serviceConnectionId]);
  for (const [field, variable] of variables) {
    if (!context[field]) throw new TaskError('AzureOidcContextMissing', [context.serviceConnectionId, variable]);
  }
  return context as CompleteContext;
}

/** What went wrong, in one line: HTTP status and the server's message. Never the access token. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = statusOf(error);
  const message = error.message.split(/\r?\n/)[0].slice(0, 300);
  return status ? `HTTP ${status}: ${message}` : message;
}

async function requestOnce(taskApi: TaskApi, c: CompleteContext): Promise<string> {
  const result = await taskApi.createOidcToken({}, c.projectId, c.hub, c.planId, c.jobId, c.serviceConnectionId);
  if (!result?.oidcToken) throw new NoOidcToken();
  return result.oidcToken;
}

/**
 * Requests the OIDC token, retrying dropped connections, 5xx, throttling and empty answers. A
 * 401/403/404 is final: retrying cannot fix an unauthorized pipeline. The TaskApi is built on the
 * collection URL itself (no resource-area look-up through another client), so the access token
 * goes to the collection's origin only, and never follows a redirect.
 */
export async function requestPipelineOidcToken(context: OidcContext, options: OidcOptions): Promise<string> {
  const c = checked(context);
  const credential = devOpsCredential('bearer', c.accessToken);
  const taskApi = devOpsApi(new TaskApi(c.collectionUri, [requestHandler(credential)], DEVOPS_CLIENT_OPTIONS), options.network, options.signal);
  const policy = options.retry ?? retryPolicy({ attempts: 4 });
  try {
    return await retry(() => requestOnce(taskApi, c), policy, {
      signal: options.signal,
      classify: (error) => (error instanceof NoOidcToken ? 'retry' : devOpsVerdict(error)),
      onRetry: ({ attempt, attempts, error }) => options.log?.debug(`OIDC token request ${attempt}/${attempts} failed: ${describe(error)}`),
    });
  } catch (error) {
    if (error instanceof StoppedError || error instanceof TaskError) throw error;
    throw new RemoteError('AzureOidcRequestFailed', [c.serviceConnectionId, describe(error)], { cause: error });
  }
}
