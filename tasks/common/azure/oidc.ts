/**
 * The pipeline's OIDC token for a workload identity federation service connection, asked of Azure
 * DevOps the way Microsoft's tasks ask for it: TaskApi.createOidcToken on the job's plan, with the
 * job's access token. Entra ID then trades that token for an access token (a client assertion).
 */
import { WebApi, getBearerHandler } from 'azure-devops-node-api';
import { RemoteError, TaskError, isTransient } from '../errors';
import type { Log } from '../log';

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
  readonly attempts?: number;
  /** First pause between attempts; it doubles each time. */
  readonly retryDelayMs?: number;
  readonly log?: Log;
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
  const status = (error as { statusCode?: number }).statusCode;
  const message = error.message.split(/\r?\n/)[0].slice(0, 300);
  return status ? `HTTP ${status}: ${message}` : message;
}

async function requestOnce(webApi: WebApi, c: CompleteContext): Promise<string> {
  const taskApi = await webApi.getTaskApi();
  const result = await taskApi.createOidcToken({}, c.projectId, c.hub, c.planId, c.jobId, c.serviceConnectionId);
  if (!result?.oidcToken) throw new Error('the response held no oidcToken');
  return result.oidcToken;
}

/**
 * Requests the OIDC token, retrying dropped connections, 5xx, throttling and empty answers.
 * A 401/403/404 is final: retrying cannot fix an unauthorized pipeline.
 */
export async function requestPipelineOidcToken(context: OidcContext, options: OidcOptions = {}): Promise<string> {
  const c = checked(context);
  const attempts = options.attempts ?? 4;
  let delay = options.retryDelayMs ?? 1000;
  const webApi = new WebApi(c.collectionUri, getBearerHandler(c.accessToken), { socketTimeout: 60_000 });
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await requestOnce(webApi, c);
    } catch (error) {
      lastError = error;
      const retriable = isTransient(error) || (error instanceof Error && /no oidcToken/.test(error.message));
      options.log?.debug(`OIDC token request ${attempt}/${attempts} failed: ${describe(error)}`);
      if (!retriable || attempt === attempts) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
    }
  }
  throw new RemoteError('AzureOidcRequestFailed', [c.serviceConnectionId, describe(lastError)], { cause: lastError });
}
