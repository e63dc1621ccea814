/**
 * An Azure Machine Learning stand-in: the workspace operations of Azure Resource Manager's
 * Microsoft.MachineLearningServices provider that Fetch Latest Model calls, api-version
 * 2023-04-01, in the shapes the REST reference and its examples document:
 *
 *   GET  .../workspaces/{ws}/models/{name}                          Model Containers - Get (latestVersion)
 *   GET  .../workspaces/{ws}/models/{name}/versions?listViewType=   Model Versions - List (paged: nextLink, $skip)
 *   GET  .../workspaces/{ws}/models/{name}/versions/{version}       Model Versions - Get
 *   GET  .../workspaces/{ws}/datastores/{name}                      Datastores - Get
 *   POST .../workspaces/{ws}/datastores/{name}/listSecrets          Datastores - List Secrets
 *
 * HTTPS; every request needs a bearer token the Entra stand-in issued for this server's origin
 * (ARM's audience), or for the sovereign cloud audience it is given. ARM's own errors for a missing subscription, resource group or workspace; the
 * ML service's UserError for a missing model; AuthorizationFailed for identities not allowed.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Claims } from './jwt';
import { type ServerTls, bearerToken, sendJson, startServer } from './standInServer';

export interface ModelVersionSpec {
  readonly version: string;
  readonly modelUri: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly archived?: boolean;
}

export interface DatastoreSpec {
  readonly name: string;
  readonly datastoreType?: 'AzureBlob' | 'AzureDataLakeGen2' | 'AzureFile';
  readonly accountName: string;
  readonly container: string;
  readonly endpoint?: string;
  readonly protocol?: string;
  readonly credentialsType: 'AccountKey' | 'Sas' | 'None' | 'ServicePrincipal';
  /** The account key or SAS token listSecrets returns. */
  readonly secret?: string;
}

export interface WorkspaceSpec {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly workspace: string;
  /** Model name -> versions in the order they were registered (the last one is latest). */
  readonly models: Readonly<Record<string, readonly ModelVersionSpec[]>>;
  readonly datastores: readonly DatastoreSpec[];
  /** Client ids (appid) allowed to read the workspace; every valid token when omitted. */
  readonly readers?: readonly string[];
  /** Client ids allowed to list datastore secrets; every reader when omitted. */
  readonly secretReaders?: readonly string[];
}

export interface AzureMlStandIn {
  /** Resource Manager URL for a service connection (ends with '/'). */
  readonly url: string;
  readonly requests: readonly { method: string; path: string; query: string; status: number }[];
  close(): Promise<void>;
}

export const machineLearningApiVersion = '2023-04-01';
const WORKSPACE = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.MachineLearningServices\/workspaces\/([^/]+)(\/.*)$/i;

function armError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

interface StandInOptions {
  readonly tls: ServerTls;
  readonly verifyToken: (token: string) => Claims | undefined;
  readonly workspaces: readonly WorkspaceSpec[];
  /** Versions per page of Model Versions - List; default 2, to exercise nextLink. */
  readonly pageSize?: number;
  /** The one token audience accepted, as a sovereign cloud's ARM accepts only its own; default the origin. */
  readonly audience?: string;
}

const CREATED = new Date('2026-01-05T10:00:00Z').getTime();

function systemData(index: number) {
  const at = new Date(CREATED + index * 3_600_000).toISOString();
  return { createdAt: at, createdBy: 'data-scientist@contoso.com', createdByType: 'User', lastModifiedAt: at, lastModifiedBy: 'data-scientist@contoso.com', lastModifiedByType: 'User' };
}

function versionJson(base: string, name: string, spec: ModelVersionSpec, index: number) {
  return {
    id: `${base}/models/${name}/versions/${spec.version}`, name: spec.version, type: 'Microsoft.MachineLearningServices/workspaces/models/versions',
    properties: { description: null, tags: spec.tags ?? {}, properties: {}, isArchived: spec.archived ?? false, isAnonymous: false, flavors: {}, modelType: 'custom_model', modelUri: spec.modelUri, jobName: null, provisioningState: 'Succeeded' },
    systemData: systemData(index),
  };
}

function containerJson(base: string, name: string, versions: readonly ModelVersionSpec[]) {
  const properties = { description: null, tags: {}, properties: {}, isArchived: false, latestVersion: versions.at(-1)?.version ?? null, nextVersion: String(versions.length + 1), provisioningState: 'Succeeded' };
  return { id: `${base}/models/${name}`, name, type: 'Microsoft.MachineLearningServices/workspaces/models', properties, systemData: systemData(0) };
}

function datastoreJson(base: string, spec: DatastoreSpec) {
  return {
    id: `${base}/datastores/${spec.name}`, name: spec.name, type: 'Microsoft.MachineLearningServices/workspaces/datastores',
    properties: {
      description: null, tags: {}, properties: {}, isDefault: spec.name === 'workspaceblobstore', credentials: { credentialsType: spec.credentialsType },
      datastoreType: spec.datastoreType ?? 'AzureBlob', accountName: spec.accountName,
      ...(spec.datastoreType === 'AzureDataLakeGen2' ? { filesystem: spec.container } : { containerName: spec.container }),
      endpoint: spec.endpoint ?? 'core.windows.net', protocol: spec.protocol ?? 'https', serviceDataAccessAuthIdentity: 'None',
    },
    systemData: systemData(0),
  };
}

/** One request inside a workspace: where it is (base), what it asks (rest) and who asks. */
interface WorkspaceRequest {
  readonly method: string;
  readonly url: URL;
  readonly space: WorkspaceSpec;
  readonly base: string;
  readonly rest: string;
  readonly claims: Claims;
}

class MachineLearningService {
  origin = '';
  constructor(private readonly options: StandInOptions) {}

  /** Model Containers - Get, Model Versions - Get and Model Versions - List (active ones by default, paged). */
  private models(request: WorkspaceRequest, match: RegExpExecArray, res: ServerResponse): void {
    const name = decodeURIComponent(match[1]);
    const versions = request.space.models[name];
    if (!versions) return armError(res, 404, 'UserError', `Not found: model container ${name} does not exist in workspace ${request.space.workspace}.`);
    if (!match[2]) return sendJson(res, 200, containerJson(request.base, name, versions));
    if (match[3]) {
      const index = versions.findIndex((spec) => spec.version === decodeURIComponent(match[3]));
      if (index < 0) return armError(res, 404, 'UserError', `Not found: model ${name} version ${decodeURIComponent(match[3])}.`);
      return sendJson(res, 200, versionJson(request.base, name, versions[index], index));
    }
    const viewType = request.url.searchParams.get('listViewType') ?? 'ActiveOnly';
    const view = viewType.toLowerCase();
    const visible = versions.map((spec, index) => ({ spec, index })).filter(({ spec }) => view === 'all' || (view === 'archivedonly') === (spec.archived ?? false));
    const size = this.options.pageSize ?? 2;
    const skip = Number(request.url.searchParams.get('$skip') ?? '0');
    const page = visible.slice(skip, skip + size).map(({ spec, index }) => versionJson(request.base, name, spec, index));
    const next = skip + size < visible.length ? `${this.origin}${request.url.pathname}?api-version=${machineLearningApiVersion}&listViewType=${viewType}&$skip=${skip + size}` : undefined;
    sendJson(res, 200, next ? { value: page, nextLink: next } : { value: page });
  }

  /** Datastores - Get and Datastores - List Secrets (which needs its own permission). */
  private datastores(request: WorkspaceRequest, match: RegExpExecArray, res: ServerResponse): void {
    const spec = request.space.datastores.find((candidate) => candidate.name === decodeURIComponent(match[1]));
    if (!spec) return armError(res, 404, 'UserError', `Not found: datastore ${decodeURIComponent(match[1])}.`);
    if (request.method === 'GET' && !match[2]) return sendJson(res, 200, datastoreJson(request.base, spec));
    if (request.method !== 'POST' || !match[2]) return armError(res, 404, 'NotFound', `The stand-in has no ${request.method} ${request.url.pathname}.`);
    const appId = String(request.claims.appid);
    if (request.space.secretReaders && !request.space.secretReaders.includes(appId)) {
      return armError(res, 403, 'AuthorizationFailed', `The client '${appId}' does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/datastores/listsecrets/action' over scope '${request.base}/datastores/${spec.name}'.`);
    }
    if (spec.credentialsType === 'AccountKey') return sendJson(res, 200, { secretsType: 'AccountKey', key: spec.secret });
    if (spec.credentialsType === 'Sas') return sendJson(res, 200, { secretsType: 'Sas', sasToken: spec.secret });
    armError(res, 400, 'UserError', `Datastore ${spec.name} has no secrets to list.`);
  }

  private workspace(request: WorkspaceRequest, res: ServerResponse): void {
    const model = /^\/models\/([^/]+)(\/versions(?:\/([^/]+))?)?$/.exec(request.rest);
    if (request.method === 'GET' && model) return this.models(request, model, res);
    const datastore = /^\/datastores\/([^/]+)(\/listSecrets)?$/.exec(request.rest);
    if (datastore) return this.datastores(request, datastore, res);
    armError(res, 404, 'NotFound', `The stand-in has no ${request.method} ${request.url.pathname}.`);
  }

  /** ARM's checks, in ARM's order: token, api-version, subscription, resource group, workspace, role. */
  handle(method: string, url: URL, token: string | undefined, res: ServerResponse): void {
    const claims = token ? this.options.verifyToken(token) : undefined;
    if (!claims) return armError(res, 401, token ? 'InvalidAuthenticationToken' : 'AuthenticationFailed', token ? 'The access token is invalid.' : "Authentication failed. The 'Authorization' header is missing.");
    if (String(claims.aud).replace(/\/$/, '') !== (this.options.audience?.replace(/\/$/, '') ?? this.origin)) return armError(res, 401, 'InvalidAuthenticationToken', `The access token has been obtained for wrong audience or resource '${String(claims.aud)}'.`);
    if (url.searchParams.get('api-version') !== machineLearningApiVersion) {
      return armError(res, 400, 'InvalidApiVersionParameter', `The api-version '${url.searchParams.get('api-version')}' is invalid. The supported versions are '${machineLearningApiVersion}'.`);
    }
    const match = WORKSPACE.exec(url.pathname);
    if (!match) return armError(res, 404, 'NotFound', `The stand-in has no ${method} ${url.pathname}.`);
    const [, subscriptionId, group, workspace, rest] = match.map(decodeURIComponent);
    const inSubscription = this.options.workspaces.filter((space) => space.subscriptionId === subscriptionId);
    if (inSubscription.length === 0) return armError(res, 404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
    const inGroup = inSubscription.filter((space) => space.resourceGroup.toLowerCase() === group.toLowerCase());
    if (inGroup.length === 0) return armError(res, 404, 'ResourceGroupNotFound', `Resource group '${group}' could not be found.`);
    const space = inGroup.find((candidate) => candidate.workspace.toLowerCase() === workspace.toLowerCase());
    if (!space) return armError(res, 404, 'ResourceNotFound', `The Resource 'Microsoft.MachineLearningServices/workspaces/${workspace}' under resource group '${group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
    if (space.readers && !space.readers.includes(String(claims.appid))) {
      return armError(res, 403, 'AuthorizationFailed', `The client '${String(claims.appid)}' with object id '${randomUUID()}' does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/models/read' over scope '${url.pathname}' or the scope is invalid.`);
    }
    this.workspace({ method, url, space, base: url.pathname.slice(0, url.pathname.length - match[4].length), rest, claims }, res);
  }
}

export async function startAzureMlStandIn(options: StandInOptions): Promise<AzureMlStandIn> {
  const requests: AzureMlStandIn['requests'][number][] = [];
  const service = new MachineLearningService(options);
  const server = await startServer((req, res, url) => {
    res.on('finish', () => requests.push({ method: req.method ?? '', path: url.pathname, query: url.search, status: res.statusCode }));
    service.handle(req.method ?? '', url, bearerToken(req), res);
  }, options.tls);
  service.origin = server.origin;
  return { url: `${server.origin}/`, requests, close: () => server.close() };
}
