/**
 * An Azure DevOps stand-in for what Fetch Latest Model's pipelineArtifact source calls, in the
 * documented shapes (Build REST API 7.1/7.2), for one or more organizations on one host, as
 * dev.azure.com serves them (the answers are in pipelinesBuildService.ts):
 *
 *   OPTIONS {collection}/_apis/build                            resource locations (api version negotiation)
 *   GET     {collection}/{project}/_apis/build/definitions      ?name=&definitionIds=  -> { count, value }
 *   GET     {collection}/{project}/_apis/build/builds           ?definitions=&statusFilter=&resultFilter=&tagFilters=
 *                                                               &branchName=&queryOrder=&$top=  -> { count, value }
 *   GET     {collection}/{project}/_apis/build/builds/{id}      -> Build, or 404 BuildNotFoundException
 *   GET     {collection}/{project}/_apis/build/builds/{id}/artifacts[?artifactName=]  -> BuildArtifact(s)
 *   GET     {artifact host}/{org}/{project}/_apis/artifact/{id}/content?format=zip  -> the zip (resource.downloadUrl)
 *
 * Authentication follows the service: the job's organization takes only `Authorization: Bearer
 * <System.AccessToken>`; each other organization takes only its personal access token, as Basic
 * with any user name (the PAT is the password). Anything else gets 401, the artifact host
 * included. Enum filters are accepted by name (as documented) and by number (as
 * azure-devops-node-api sends them). The artifact host honours Range unless told not to, and can
 * fail its next downloads with a status, to exercise retries. Told to, it redirects downloads to
 * signed URLs on a third server (as http://localhost:<port>, another host name than the API's
 * 127.0.0.1), which refuses any request that carries an Authorization header, as blob storage does
 * with a SAS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BuildService, type OrganizationSpec, type RunSpec, type SharedHost, serveZip, vssError } from './pipelinesBuildService';
import { type RunningServer, bearerToken, startServer } from './standInServer';

export type { RunSpec };

export interface PipelinesStandInOptions {
  /** The job's System.AccessToken, for the first organization. */
  readonly accessToken: string;
  readonly organization?: string;
  readonly projectName?: string;
  readonly definitions: OrganizationSpec['definitions'];
  readonly runs: readonly RunSpec[];
  /** Further organizations on the same host, each reached with a personal access token. */
  readonly otherOrganizations?: readonly (OrganizationSpec & { readonly pat: string })[];
}

export interface OrganizationInfo {
  /** The organization URL (a service connection's URL), ending with '/'. */
  readonly collectionUri: string;
  readonly projectId: string;
  readonly projectName: string;
}

export interface RequestRecord {
  readonly host: 'api' | 'artifacts' | 'signed';
  readonly path: string;
  readonly query: string;
  readonly status: number;
  readonly range?: string;
  /** The Authorization scheme the request carried. */
  readonly auth: 'bearer' | 'basic' | 'none';
}

export interface PipelinesStandIn extends OrganizationInfo {
  /** The other organizations by name. */
  readonly organizations: Readonly<Record<string, OrganizationInfo>>;
  /** Paths and queries of every request, artifact host included. */
  readonly requests: readonly RequestRecord[];
  /** Port of the artifact host, to put a fault proxy in front of it. */
  readonly artifactPort: number;
  /** Serve downloads from this origin instead (e.g. a proxy in front of the artifact host). */
  setDownloadOrigin(origin: string): void;
  /** The next `count` downloads answer `status`. */
  failDownloads(count: number, status: number): void;
  /** Whether the artifact host answers Range requests with 206 (default true). */
  setRangeSupport(supported: boolean): void;
  /** Whether downloads redirect to signed URLs on another host (default false). */
  setSignedDownloads(on: boolean): void;
  close(): Promise<void>;
}

/** Who may call an organization: the job's OAuth token (Bearer) or a PAT (Basic). */
type Credential = { readonly kind: 'bearer' | 'pat'; readonly token: string };

/** The password of an `Authorization: Basic` header, whatever the user name. */
function basicPassword(req: IncomingMessage): string | undefined {
  const encoded = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!encoded) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  return decoded.includes(':') ? decoded.slice(decoded.indexOf(':') + 1) : undefined;
}

function accepts(credential: Credential, req: IncomingMessage): boolean {
  return credential.kind === 'bearer' ? bearerToken(req) === credential.token : basicPassword(req) === credential.token;
}

function authScheme(req: IncomingMessage): RequestRecord['auth'] {
  const scheme = /^(\w+)\s/.exec(req.headers.authorization ?? '')?.[1]?.toLowerCase();
  return scheme === 'bearer' || scheme === 'basic' ? scheme : 'none';
}

type Tenant = { readonly service: BuildService; readonly credential: Credential };

/** Routes a request to the organization its path names, once that organization's credential checks out. */
function router(tenants: ReadonlyMap<string, Tenant>, requests: RequestRecord[], host: RequestRecord['host']) {
  return (req: IncomingMessage, res: ServerResponse, url: URL) => {
    res.on('finish', () => requests.push({ host, path: url.pathname, query: url.search, status: res.statusCode, range: req.headers.range, auth: authScheme(req) }));
    const tenant = tenants.get(url.pathname.split('/')[1]?.toLowerCase() ?? '');
    if (!tenant || !accepts(tenant.credential, req)) {
      res.setHeader('www-authenticate', tenant?.credential.kind === 'pat' ? 'Basic realm="https://dev.azure.com/"' : 'Bearer');
      return vssError(res, 401, 'UnauthorizedRequestException', 'TF400813: The user is not authorized to access this resource.');
    }
    if (host === 'api') tenant.service.api(req, res, url);
    else tenant.service.download(req, res, url);
  };
}

/** The signed-URL host: the signature alone authorizes; a credential sent along is refused. */
function signedHost(shared: SharedHost, requests: RequestRecord[]) {
  return (req: IncomingMessage, res: ServerResponse, url: URL) => {
    res.on('finish', () => requests.push({ host: 'signed', path: url.pathname, query: '', status: res.statusCode, range: req.headers.range, auth: authScheme(req) }));
    const zip = shared.signed.get(url.searchParams.get('sig') ?? '');
    if (req.headers.authorization || !zip) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      return void res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.</Message></Error>');
    }
    serveZip(req, res, zip, shared.ranges);
  };
}

function infoOf(service: BuildService, apiOrigin: string): OrganizationInfo {
  return { collectionUri: `${apiOrigin}/${service.organization}/`, projectId: service.projectId, projectName: service.projectName };
}

export async function startPipelinesStandIn(options: PipelinesStandInOptions): Promise<PipelinesStandIn> {
  const shared: SharedHost = { apiOrigin: '', downloadOrigin: '', ranges: true, faults: { count: 0, status: 500 }, signed: new Map() };
  const job = new BuildService({ ...options, organization: options.organization ?? 'contoso' }, shared);
  const tenants = new Map<string, Tenant>([[job.organization.toLowerCase(), { service: job, credential: { kind: 'bearer', token: options.accessToken } }]]);
  for (const other of options.otherOrganizations ?? []) {
    tenants.set(other.organization.toLowerCase(), { service: new BuildService(other, shared), credential: { kind: 'pat', token: other.pat } });
  }
  const requests: RequestRecord[] = [];
  const servers: RunningServer[] = [];
  try {
    servers.push(await startServer(router(tenants, requests, 'api')));
    servers.push(await startServer(router(tenants, requests, 'artifacts')));
    servers.push(await startServer(signedHost(shared, requests)));
  } catch (error) {
    await Promise.all(servers.map((server) => server.close()));
    throw error;
  }
  shared.apiOrigin = servers[0].origin;
  shared.downloadOrigin = servers[1].origin;
  const others = [...tenants.values()].filter(({ service }) => service !== job).map(({ service }) => [service.organization, infoOf(service, shared.apiOrigin)]);
  return {
    ...infoOf(job, shared.apiOrigin),
    organizations: Object.fromEntries(others),
    requests,
    artifactPort: Number(new URL(servers[1].origin).port),
    setDownloadOrigin: (origin) => (shared.downloadOrigin = origin),
    failDownloads(count, status) {
      shared.faults.count = count;
      shared.faults.status = status;
    },
    setRangeSupport: (supported) => (shared.ranges = supported),
    setSignedDownloads(on) {
      shared.signedOrigin = on ? servers[2].origin.replace('127.0.0.1', 'localhost') : undefined;
    },
    close: async () => {
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}
