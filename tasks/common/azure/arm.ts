/**
 * Azure Resource Manager look-ups. Requests go through @azure/core-rest-pipeline with a bearer
 * token from the service connection, sent by the network layer (see transport.ts): its proxy,
 * certificates, deadlines, bounded bodies and the one retry policy. The token stays on ARM's
 * origin: redirects and next pages that lead elsewhere do not carry it.
 */
import type { TokenCredential } from '@azure/identity';
import {
  type HttpClient,
  type Pipeline,
  type PipelineResponse,
  bearerTokenAuthenticationPolicy,
  createPipelineFromOptions,
  createPipelineRequest,
  redirectPolicyName,
} from '@azure/core-rest-pipeline';
import { INPUT_SLOT, RemoteError, SettingError, TaskError } from '../errors';
import type { Log } from '../log';
import { sameOrigin } from '../net/origin';
import { type AzureRmConnection, armScope } from './connection';
import { AZURE_BODY_LIMITS, type AzureTransport, NO_SDK_RETRIES, credentialScopedRedirects, sdkHttpClient } from './transport';

export const storageApiVersion = '2023-05-01';
const maxPages = 1000;
const maxNamesListed = 20;

/** What any Resource Manager call needs: where ARM is, who asks, and how requests travel. */
export interface ArmTarget extends Pick<AzureRmConnection, 'armUrl' | 'resourceManagerAudience'> {
  readonly credential: TokenCredential;
  readonly transport: AzureTransport;
  /** The service connection as the user named it, for messages. */
  readonly connectionName: string;
}

/**
 * The ARM target of a service connection: its cloud's Resource Manager URL and token audience (a
 * sovereign cloud's ARM accepts only its own), and its name for messages. Every look-up starts here.
 */
export function armTargetFor(connection: AzureRmConnection, access: Pick<ArmTarget, 'credential' | 'transport'>): ArmTarget {
  return {
    armUrl: connection.armUrl,
    ...(connection.resourceManagerAudience ? { resourceManagerAudience: connection.resourceManagerAudience } : {}),
    credential: access.credential,
    transport: access.transport,
    connectionName: connection.name,
  };
}

export interface StorageAccountQuery extends ArmTarget {
  readonly subscriptionId: string;
  readonly accountName: string;
  readonly log?: Log;
}

interface StorageAccount {
  name?: string;
  properties?: { primaryEndpoints?: { blob?: string } };
}

interface StorageAccountPage {
  value?: StorageAccount[];
  nextLink?: string;
}

/** A pipeline that signs with a token for ARM's audience, and the network layer to send it. */
export interface ArmClient {
  readonly target: ArmTarget;
  readonly pipeline: Pipeline;
  readonly httpClient: HttpClient;
}

/** The one way this code reaches ARM; shared by the storage, Azure ML and AKS look-ups. */
export function armClient(target: ArmTarget): ArmClient {
  const pipeline = createPipelineFromOptions({ retryOptions: NO_SDK_RETRIES, userAgentOptions: { userAgentPrefix: 'ai-model-delivery-tasks' } });
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: target.credential, scopes: armScope(target) }), { phase: 'Sign' });
  // The SDK's redirect policy runs before Sign, so every hop would be signed again: ours runs after it.
  pipeline.removePolicy({ name: redirectPolicyName });
  pipeline.addPolicy(credentialScopedRedirects(), { afterPhase: 'Sign' });
  return { target, pipeline, httpClient: sdkHttpClient(target.transport, AZURE_BODY_LIMITS.arm) };
}

/** ARM's error body is { error: { code, message } }; fall back to the status line. */
export function armError(response: PipelineResponse): { code: string; message: string } {
  try {
    const body = JSON.parse(response.bodyAsText ?? '') as { error?: { code?: string; message?: string } };
    if (body.error) return { code: body.error.code ?? String(response.status), message: body.error.message ?? '' };
  } catch {
    // not JSON: a proxy or gateway answered
  }
  return { code: `HTTP ${response.status}`, message: (response.bodyAsText ?? '').slice(0, 200) };
}

function failure(query: StorageAccountQuery, url: string, response: PipelineResponse): TaskError {
  const { code, message } = armError(response);
  const reason = message ? `${code}: ${message}` : code;
  if (response.status === 403) return new RemoteError('AzureArmForbidden', [query.connectionName, query.subscriptionId, reason]);
  if (response.status === 404 && /SubscriptionNotFound/i.test(code)) {
    return new RemoteError('AzureArmSubscriptionNotFound', [query.subscriptionId, query.connectionName, reason]);
  }
  return new RemoteError('AzureArmRequestFailed', [withoutQuery(url), `HTTP ${response.status} ${reason}`]);
}

/** The query string carries only api-version and paging tokens, but URLs are logged without it. */
function withoutQuery(url: string): string {
  return url.split('?')[0];
}

/** Sends one ARM request and parses its JSON answer; anything but 200 goes through `fail`. */
export async function sendArmJson<T>(client: ArmClient, url: string, method: 'GET' | 'POST', fail: (response: PipelineResponse) => TaskError): Promise<T> {
  const request = createPipelineRequest({ url, method, abortSignal: client.target.transport.signal });
  request.headers.set('Accept', 'application/json');
  const response = await client.pipeline.sendRequest(client.httpClient, request);
  if (response.status !== 200) throw fail(response);
  try {
    return JSON.parse(response.bodyAsText ?? '') as T;
  } catch {
    throw new RemoteError('AzureArmRequestFailed', [withoutQuery(url), 'the response is not JSON']);
  }
}

function getPage(client: ArmClient, query: StorageAccountQuery, url: string): Promise<StorageAccountPage> {
  return sendArmJson<StorageAccountPage>(client, url, 'GET', (response) => failure(query, url, response));
}

/** Resource names for a "not found" message: the first few, and how many there are. */
export function listedNames(names: readonly string[]): string {
  if (names.length === 0) return '(none)';
  return names.slice(0, maxNamesListed).join(', ') + (names.length > maxNamesListed ? `, ... (${names.length} in all)` : '');
}

/** nextLink comes from the server; the bearer token must not follow it to another host. */
export function nextPageUrl(target: Pick<ArmTarget, 'armUrl'>, nextLink: string | undefined): string | undefined {
  if (!nextLink) return undefined;
  const next = new URL(nextLink, target.armUrl);
  if (!sameOrigin(next, new URL(target.armUrl))) {
    throw new RemoteError('AzureArmRequestFailed', [withoutQuery(nextLink), 'the next page is on another host']);
  }
  return next.href;
}

/**
 * The blob endpoint (https://<account>.blob.core.windows.net/ in the public cloud) of the storage
 * account named `accountName` in the subscription, found by listing the subscription's storage
 * accounts page by page. Names are matched case-insensitively, as Azure treats them.
 */
export async function findStorageAccountBlobEndpoint(query: StorageAccountQuery): Promise<string> {
  const client = armClient(query);
  const wanted = query.accountName.toLowerCase();
  const seen: string[] = [];
  let url: string | undefined =
    `${query.armUrl}subscriptions/${encodeURIComponent(query.subscriptionId)}/providers/Microsoft.Storage/storageAccounts?api-version=${storageApiVersion}`;
  for (let page = 1; url && page <= maxPages; page++) {
    query.log?.debug(`Listing storage accounts, page ${page}: ${withoutQuery(url)}`);
    const body = await getPage(client, query, url);
    for (const account of body.value ?? []) {
      if (account.name?.toLowerCase() === wanted) return blobEndpointOf(account);
      if (account.name) seen.push(account.name);
    }
    url = nextPageUrl(query, body.nextLink);
  }
  throw new SettingError('storageAccount', 'AzureStorageAccountNotFound', [INPUT_SLOT, query.accountName, query.subscriptionId, query.connectionName, listedNames(seen)]);
}

function blobEndpointOf(account: StorageAccount): string {
  const blob = account.properties?.primaryEndpoints?.blob;
  if (!blob) throw new RemoteError('AzureArmRequestFailed', [`storage account ${account.name}`, 'it has no blob endpoint (is it a blob-capable account kind?)']);
  return blob.endsWith('/') ? blob : `${blob}/`;
}
