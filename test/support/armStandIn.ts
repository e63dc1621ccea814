/**
 * An Azure Resource Manager stand-in for one operation: listing a subscription's storage accounts
 * (Microsoft.Storage/storageAccounts, api-version 2023-05-01), paged with nextLink as ARM pages.
 * HTTPS, because core-rest-pipeline will not send a bearer token over plain HTTP.
 *
 * Every request needs a bearer token the Entra stand-in issued for this server's audience (its
 * origin, as https://management.azure.com is ARM's, or the sovereign cloud audience it is given);
 * ARM's own error codes and bodies otherwise.
 */
import type { Claims } from './jwt';
import { type ServerTls, bearerToken, sendJson, startServer, InjectedFaults } from './standInServer';

export interface StorageAccountSpec {
  readonly name: string;
  readonly resourceGroup?: string;
  readonly location?: string;
  /** Defaults to https://<name>.blob.core.windows.net/ */
  readonly blobEndpoint?: string;
}

export interface SubscriptionSpec {
  readonly accounts: readonly StorageAccountSpec[];
  /** Client ids (appid claim) allowed to read; every valid token may when omitted. */
  readonly readers?: readonly string[];
}

export interface ArmStandInOptions {
  readonly tls: ServerTls;
  /** Checks a bearer token: its claims, or undefined when it is not a valid token. */
  readonly verifyToken: (token: string) => Claims | undefined;
  readonly subscriptions: Readonly<Record<string, SubscriptionSpec>>;
  /** Accounts per page (ARM's own page size is much larger); default 2. */
  readonly pageSize?: number;
  /** The one token audience accepted, as a sovereign cloud's ARM accepts only its own; default the origin. */
  readonly audience?: string;
}

export interface ArmRequestRecord {
  readonly path: string;
  readonly skipToken: string | null;
  readonly appId?: string;
  readonly status: number;
}

export interface ArmStandIn {
  /** Resource Manager URL for a connection (ends with '/'). */
  readonly url: string;
  /** The audience its tokens must carry. */
  readonly audience: string;
  readonly requests: readonly ArmRequestRecord[];
  /** The next `count` requests fail with `status` before any check (to exercise retries). */
  failNext(count: number, status: number): void;
  close(): Promise<void>;
}

const listPath = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Storage\/storageAccounts$/i;
const apiVersion = '2023-05-01';

function armError(code: string, message: string): object {
  return { error: { code, message } };
}

function accountResource(subscriptionId: string, spec: StorageAccountSpec): object {
  const group = spec.resourceGroup ?? 'models-rg';
  const blob = spec.blobEndpoint ?? `https://${spec.name}.blob.core.windows.net/`;
  return {
    id: `/subscriptions/${subscriptionId}/resourceGroups/${group}/providers/Microsoft.Storage/storageAccounts/${spec.name}`,
    name: spec.name,
    type: 'Microsoft.Storage/storageAccounts',
    location: spec.location ?? 'westeurope',
    kind: 'StorageV2',
    sku: { name: 'Standard_LRS', tier: 'Standard' },
    tags: {},
    properties: {
      provisioningState: 'Succeeded',
      primaryLocation: spec.location ?? 'westeurope',
      statusOfPrimary: 'available',
      accessTier: 'Hot',
      supportsHttpsTrafficOnly: true,
      minimumTlsVersion: 'TLS1_2',
      allowBlobPublicAccess: false,
      primaryEndpoints: {
        blob,
        queue: blob.replace('.blob.', '.queue.'),
        table: blob.replace('.blob.', '.table.'),
        file: blob.replace('.blob.', '.file.'),
        dfs: blob.replace('.blob.', '.dfs.'),
        web: blob.replace('.blob.', '.z6.web.'),
      },
    },
  };
}

export async function startArmStandIn(options: ArmStandInOptions): Promise<ArmStandIn> {
  const requests: ArmRequestRecord[] = [];
  const pageSize = options.pageSize ?? 2;
  const faults = new InjectedFaults();
  let origin = '';
  let audience = '';
  const server = await startServer((req, res, url) => {
    const record = { path: url.pathname, skipToken: url.searchParams.get('$skipToken') };
    const answer = (status: number, body: object, claims?: Claims, headers: Record<string, string> = {}) => {
      requests.push({ ...record, appId: claims?.appid as string | undefined, status });
      sendJson(res, status, body, headers);
    };
    const fault = faults.take();
    if (fault !== undefined) return answer(fault, armError('ServiceUnavailable', 'The service is temporarily unavailable (stand-in fault).'));
    const token = bearerToken(req);
    const claims = token ? options.verifyToken(token) : undefined;
    const challenge = { 'www-authenticate': `Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The access token is invalid."` };
    if (!token) return answer(401, armError('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing."), undefined, challenge);
    if (!claims) return answer(401, armError('InvalidAuthenticationToken', 'The access token is invalid.'), undefined, challenge);
    if (String(claims.aud).replace(/\/$/, '') !== audience) {
      return answer(401, armError('InvalidAuthenticationToken', `The access token has been obtained for wrong audience or resource '${String(claims.aud)}'. It should exactly match with one of the allowed audiences '${audience}/','${audience}'.`), claims, challenge);
    }
    const match = listPath.exec(url.pathname);
    if (req.method !== 'GET' || !match) return answer(404, armError('NotFound', `The stand-in has no ${req.method} ${url.pathname}.`), claims);
    if (url.searchParams.get('api-version') !== apiVersion) {
      return answer(400, armError('InvalidApiVersionParameter', `The api-version '${url.searchParams.get('api-version')}' is invalid. The supported versions are '${apiVersion}'.`), claims);
    }
    const subscriptionId = match[1];
    const subscription = options.subscriptions[subscriptionId];
    if (!subscription) return answer(404, armError('SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`), claims);
    if (subscription.readers && !subscription.readers.includes(String(claims.appid))) {
      return answer(403, armError('AuthorizationFailed', `The client '${String(claims.appid)}' with object id '${String(claims.oid)}' does not have authorization to perform action 'Microsoft.Storage/storageAccounts/read' over scope '/subscriptions/${subscriptionId}' or the scope is invalid. If access was recently granted, please refresh your credentials.`), claims);
    }
    const start = Number(url.searchParams.get('$skipToken') ?? '0');
    const page = subscription.accounts.slice(start, start + pageSize).map((spec) => accountResource(subscriptionId, spec));
    const next = start + pageSize < subscription.accounts.length
      ? `${origin}${url.pathname}?api-version=${apiVersion}&$skipToken=${start + pageSize}`
      : undefined;
    answer(200, next ? { value: page, nextLink: next } : { value: page }, claims);
  }, options.tls);
  origin = server.origin;
  audience = options.audience?.replace(/\/$/, '') ?? origin;
  return {
    url: `${origin}/`,
    audience,
    requests,
    failNext: (count, status) => faults.failNext(count, status),
    close: () => server.close(),
  };
}
