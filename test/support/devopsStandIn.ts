/**
 * An Azure DevOps stand-in for the one call workload identity federation needs: the job's OIDC
 * token for a service connection, as azure-devops-node-api's TaskApi.createOidcToken asks for it.
 *
 *   OPTIONS {collection}/_apis/distributedtask      resource locations (api version negotiation)
 *   POST    {collection}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken
 *           ?serviceConnectionId=...&api-version=...  -> { oidcToken }
 *
 * Both need `Authorization: Bearer <System.AccessToken>`; anything else gets 401 as the real
 * service answers. Tokens are RS256 JWTs shaped like the real ones (issuer
 * https://vstoken.dev.azure.com/{organizationId}, subject sc://{org}/{project}/{connection},
 * audience api://AzureADTokenExchange); `publicKey` verifies them.
 */
import { type KeyObject, generateKeyPairSync, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowSeconds, signRs256 } from './jwt';
import { type ServerTls, bearerToken, readBody, sendJson, startServer, InjectedFaults } from './standInServer';

export const oidcTokenLocationId = '69a319f4-28c1-4bfd-93e6-ea0ff5c6f1a2';

export interface DevOpsStandInOptions {
  /** The job's System.AccessToken the server accepts. */
  readonly accessToken: string;
  readonly organization?: string;
  readonly projectName?: string;
  /** Service connections this pipeline may use: id -> name (the name goes into the subject). */
  readonly serviceConnections: Readonly<Record<string, string>>;
  /** Serve HTTPS instead of HTTP. */
  readonly tls?: ServerTls;
}

export interface OidcTokenRequestRecord {
  readonly projectId: string;
  readonly hub: string;
  readonly planId: string;
  readonly jobId: string;
  readonly serviceConnectionId: string | null;
  readonly apiVersion: string | null;
  readonly status: number;
}

export interface DevOpsStandIn {
  /** System.CollectionUri, ending with '/'. */
  readonly collectionUri: string;
  /** The `iss` of every OIDC token. */
  readonly issuer: string;
  readonly publicKey: KeyObject;
  readonly requests: readonly OidcTokenRequestRecord[];
  /** The `sub` of the token for a service connection, as a federated credential names it. */
  subjectFor(serviceConnectionId: string): string;
  /** The next `count` OIDC token requests fail with `status` (to exercise retries). */
  failNext(count: number, status: number): void;
  close(): Promise<void>;
}

function resourceLocations(): object {
  const location = {
    id: oidcTokenLocationId,
    area: 'distributedtask',
    resourceName: 'oidctoken',
    routeTemplate: '{scopeIdentifier}/_apis/{area}/hubs/{hubName}/plans/{planId}/jobs/{jobId}/{resource}',
    resourceVersion: 1,
    minVersion: '7.1',
    maxVersion: '7.2',
    releasedVersion: '0.0',
  };
  return { count: 1, value: [location] };
}

/** The error body Azure DevOps sends (a serialized VssServiceException). */
function sendVssError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, {
    $id: '1', innerException: null, message, typeName: 'Microsoft.VisualStudio.Services.WebApi.VssServiceException, Microsoft.VisualStudio.Services.WebApi',
    typeKey: 'VssServiceException', errorCode: 0, eventId: 3000,
  }, headers);
}

const tokenPath = /\/([^/]+)\/_apis\/distributedtask\/hubs\/([^/]+)\/plans\/([^/]+)\/jobs\/([^/]+)\/oidctoken$/i;

export async function startDevOpsStandIn(options: DevOpsStandInOptions): Promise<DevOpsStandIn> {
  const organization = options.organization ?? 'contoso';
  const projectName = options.projectName ?? 'models';
  const organizationId = randomUUID();
  const issuer = `https://vstoken.dev.azure.com/${organizationId}`;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const requests: OidcTokenRequestRecord[] = [];
  const faults = new InjectedFaults();
  const subjectFor = (id: string) => `sc://${organization}/${projectName}/${options.serviceConnections[id] ?? id}`;

  const issue = (serviceConnectionId: string): string => {
    const now = nowSeconds();
    return signRs256({ jti: randomUUID(), sub: subjectFor(serviceConnectionId), aud: 'api://AzureADTokenExchange', iss: issuer, nbf: now, exp: now + 600, iat: now }, privateKey, { kid: 'standin' });
  };

  const oidcToken = async (req: IncomingMessage, res: ServerResponse, url: URL, match: RegExpExecArray) => {
    await readBody(req);
    const serviceConnectionId = url.searchParams.get('serviceConnectionId');
    // azure-devops-node-api negotiates the version and sends it in Accept: application/json;api-version=...
    const apiVersion = /api-version=([^;,\s]+)/.exec(req.headers.accept ?? '')?.[1] ?? url.searchParams.get('api-version');
    const record = { projectId: match[1], hub: match[2], planId: match[3], jobId: match[4], serviceConnectionId, apiVersion };
    const answer = (status: number) => requests.push({ ...record, status });
    const fault = faults.take();
    if (fault !== undefined) {
      answer(fault);
      return sendVssError(res, fault, 'The service is temporarily unavailable (stand-in fault).');
    }
    if (!serviceConnectionId || !(serviceConnectionId in options.serviceConnections)) {
      answer(400);
      return sendVssError(res, 400, `Service connection ${serviceConnectionId} could not be found or the pipeline is not authorized to use it.`);
    }
    answer(200);
    sendJson(res, 200, { oidcToken: issue(serviceConnectionId) });
  };

  const server = await startServer(async (req, res, url) => {
    if (bearerToken(req) !== options.accessToken) {
      return sendVssError(res, 401, 'TF400813: The user is not authorized to access this resource.', { 'www-authenticate': 'Bearer' });
    }
    const collectionPath = `/${organization}`;
    if (req.method === 'OPTIONS' && url.pathname === `${collectionPath}/_apis/distributedtask`) return sendJson(res, 200, resourceLocations());
    const match = tokenPath.exec(url.pathname);
    if (req.method === 'POST' && match && url.pathname.startsWith(`${collectionPath}/`)) return oidcToken(req, res, url, match);
    sendVssError(res, 404, `The stand-in has no ${req.method} ${url.pathname}`);
  }, options.tls);

  return {
    collectionUri: `${server.origin}/${organization}/`,
    issuer,
    publicKey,
    requests,
    subjectFor,
    failNext: (count, status) => faults.failNext(count, status),
    close: () => server.close(),
  };
}
