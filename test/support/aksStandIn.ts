/**
 * An Azure Kubernetes Service stand-in: the Resource Manager operations the Deploy task uses
 * (api-version 2024-05-01) and, behind the kubeconfigs it hands out, an API server front that
 * authenticates like AKS and forwards to the cluster simulator.
 *
 *   GET  .../resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters[/{name}]
 *   POST .../managedClusters/{name}/listClusterUserCredential | listClusterAdminCredential
 *        -> { kubeconfigs: [{ name: 'clusterUser' | 'clusterAdmin', value: base64 kubeconfig }] }
 *
 * ARM requests need a bearer token the Entra stand-in issued for this server's origin. The front
 * accepts the local accounts' static tokens, or an Entra token for the AKS server application
 * (audience 6dae42f8-...), as a managed Entra ID cluster does; it then calls the simulator with the
 * simulator's own token. Errors carry ARM's codes and messages.
 */
import * as fs from 'node:fs';
import * as https from 'node:https';
import { randomBytes } from 'node:crypto';
import { dump } from 'js-yaml';
import type { Claims } from './jwt';
import { bearerToken, sendJson, startServer, InjectedFaults } from './standInServer';
import type { ClientCertificate, TestCa } from './tls';
import { RunCommands } from './aksRunCommandStandIn';

export const aksServerAppId = '6dae42f8-4368-4678-94ff-3960e28e3630';
/** The Azure CLI's client id, which AKS puts in kubelogin's arguments. */
const azureCliClientId = '80faf920-1908-4b52-b5ef-a8e7bedfc67a';
const apiVersion = '2024-05-01';

export interface AksClusterSpec {
  readonly resourceGroup: string;
  readonly name: string;
  /** 'local': user credentials are a static token and client certificate; 'entra': managed Entra ID, kubelogin user. */
  readonly auth: 'local' | 'entra';
  readonly disableLocalAccounts?: boolean;
  /** How an Entra user kubeconfig signs in: kubelogin exec (the default since Kubernetes 1.24) or the legacy azure auth-provider. */
  readonly entraFormat?: 'exec' | 'azure';
  /** Client ids (appid) holding the Cluster User Role; everyone when omitted. */
  readonly users?: readonly string[];
  /** Client ids holding the Cluster Admin Role; everyone when omitted. */
  readonly admins?: readonly string[];
  /** Hands out a kubeconfig no client can use: its server over plain http, or no current-context. */
  readonly kubeconfigFlaw?: 'httpServer' | 'noCurrentContext';
}

export interface AksStandInOptions {
  readonly tls: TestCa;
  readonly verifyToken: (token: string) => Claims | undefined;
  readonly tenantId: string;
  readonly subscriptionId: string;
  readonly clusters: readonly AksClusterSpec[];
  /** The Kubernetes API behind every cluster (the cluster simulator). */
  readonly upstream: { readonly url: string; readonly caPem?: string; readonly token?: string };
  /** Put in local-account kubeconfigs as client-certificate-data / client-key-data. */
  readonly clientCertificate: ClientCertificate;
  /** The kubeconfig file run commands use (aksRunCommandStandIn.ts); runCommand fails without it. */
  readonly runCommandKubeconfig?: string;
}

export interface AksRequestRecord {
  readonly method: string;
  readonly path: string;
  readonly appId?: string;
  readonly status: number;
}

export interface ApiServerRecord {
  readonly path: string;
  /** 'clusterUser' / 'clusterAdmin' (static tokens), 'entra:<appid>', or 'anonymous'. */
  readonly identity: string;
  readonly status: number;
}

export interface AksStandIn {
  /** Resource Manager URL for a service connection (ends with '/'). */
  readonly url: string;
  readonly audience: string;
  /** Where every kubeconfig's server points. */
  readonly apiServerUrl: string;
  readonly requests: readonly AksRequestRecord[];
  readonly apiRequests: readonly ApiServerRecord[];
  /** The local accounts' static tokens. */
  readonly userToken: string;
  readonly adminToken: string;
  /** The run commands taken (managedClusters/runCommand). */
  readonly runCommands: RunCommands;
  /** The next `count` ARM requests fail with `status` before any check. */
  failNext(count: number, status: number): void;
  close(): Promise<void>;
}

const clusterPath = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerService\/managedClusters(?:\/([^/]+)(?:\/(listClusterUserCredential|listClusterAdminCredential))?)?$/i;
const publicPaths = new Set(['/version', '/healthz', '/livez', '/readyz']);

function armError(code: string, message: string): object {
  return { error: { code, message } };
}

function clusterResource(o: AksStandInOptions, spec: AksClusterSpec): object {
  const id = `/subscriptions/${o.subscriptionId}/resourceGroups/${spec.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${spec.name}`;
  return {
    id, name: spec.name, type: 'Microsoft.ContainerService/ManagedClusters', location: 'westeurope',
    sku: { name: 'Base', tier: 'Free' },
    identity: { type: 'SystemAssigned', principalId: '9a0b1c2d-0000-4000-8000-00000000aks1', tenantId: o.tenantId },
    properties: {
      provisioningState: 'Succeeded', powerState: { code: 'Running' }, kubernetesVersion: '1.30.13', currentKubernetesVersion: '1.30.13',
      dnsPrefix: `${spec.name}-dns`, fqdn: `${spec.name}-dns-4k2x.hcp.westeurope.azmk8s.io`, azurePortalFQDN: `${spec.name}-dns-4k2x.portal.hcp.westeurope.azmk8s.io`,
      agentPoolProfiles: [{ name: 'nodepool1', count: 1, vmSize: 'Standard_D2s_v5', osType: 'Linux', mode: 'System' }],
      enableRBAC: true, supportPlan: 'KubernetesOfficial', nodeResourceGroup: `MC_${spec.resourceGroup}_${spec.name}_westeurope`,
      disableLocalAccounts: !!spec.disableLocalAccounts,
      ...(spec.auth === 'entra' ? { aadProfile: { managed: true, enableAzureRBAC: false, adminGroupObjectIDs: [], tenantID: o.tenantId } } : {}),
    },
  };
}

function entraUser(o: AksStandInOptions, spec: AksClusterSpec): object {
  if (spec.entraFormat === 'azure') {
    return { 'auth-provider': { name: 'azure', config: { 'apiserver-id': aksServerAppId, 'client-id': azureCliClientId, 'config-mode': '1', environment: 'AzurePublicCloud', 'tenant-id': o.tenantId } } };
  }
  return {
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'kubelogin', env: null, provideClusterInfo: false,
      args: ['get-token', '--environment', 'AzurePublicCloud', '--server-id', aksServerAppId, '--client-id', azureCliClientId, '--tenant-id', o.tenantId, '--login', 'devicecode'],
      installHint: '\nkubelogin is not installed which is required to connect to AAD enabled cluster.\n\nTo learn more, please go to https://aka.ms/aks/kubelogin\n',
    },
  };
}

/** A kubeconfig as AKS writes it: one cluster, one user, one context, fields in its order. */
function kubeconfig(o: AksStandInOptions, spec: AksClusterSpec, admin: boolean, front: { url: string; caData: string; tokens: { user: string; admin: string } }): string {
  const user = `${admin ? 'clusterAdmin' : 'clusterUser'}_${spec.resourceGroup}_${spec.name}`;
  const keyPem = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/.exec(o.clientCertificate.pem)?.[0] ?? '';
  const local = {
    'client-certificate-data': Buffer.from(o.clientCertificate.certificatePem).toString('base64'),
    'client-key-data': Buffer.from(`${keyPem}\n`).toString('base64'),
    token: admin ? front.tokens.admin : front.tokens.user,
  };
  const context = admin ? `${spec.name}-admin` : spec.name;
  const server = spec.kubeconfigFlaw === 'httpServer' ? front.url.replace(/^https:/, 'http:') : front.url;
  return dump({
    apiVersion: 'v1',
    clusters: [{ cluster: { 'certificate-authority-data': front.caData, server }, name: spec.name }],
    contexts: [{ context: { cluster: spec.name, user }, name: context }],
    ...(spec.kubeconfigFlaw === 'noCurrentContext' ? {} : { 'current-context': context }),
    kind: 'Config',
    preferences: {},
    users: [{ name: user, user: spec.auth === 'entra' && !admin ? entraUser(o, spec) : local }],
  }, { lineWidth: -1 });
}

interface Route {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name?: string;
  readonly action?: string;
}

function forbidden(appId: string, action: string, scope: string): object {
  return armError('AuthorizationFailed', `The client '${appId}' with object id '${appId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`);
}

/** Answers one authenticated ARM request: [status, body]. */
function armAnswer(o: AksStandInOptions, method: string, route: Route, appId: string, front: Parameters<typeof kubeconfig>[3]): [number, object] {
  if (route.subscriptionId !== o.subscriptionId) return [404, armError('SubscriptionNotFound', `The subscription '${route.subscriptionId}' could not be found.`)];
  const inGroup = o.clusters.filter((c) => c.resourceGroup.toLowerCase() === route.resourceGroup.toLowerCase());
  if (inGroup.length === 0) return [404, armError('ResourceGroupNotFound', `Resource group '${route.resourceGroup}' could not be found.`)];
  const scope = `/subscriptions/${route.subscriptionId}/resourceGroups/${route.resourceGroup}/providers/Microsoft.ContainerService/managedClusters`;
  const may = (list: readonly string[] | undefined) => !list || list.includes(appId);
  if (!route.name) {
    if (method !== 'GET') return [405, armError('MethodNotAllowed', `The stand-in has no ${method} on the cluster list.`)];
    return [200, { value: inGroup.filter((c) => may(c.users) || may(c.admins)).map((c) => clusterResource(o, c)) }];
  }
  const spec = inGroup.find((c) => c.name.toLowerCase() === route.name!.toLowerCase());
  if (!spec) {
    return [404, armError('ResourceNotFound', `The Resource 'Microsoft.ContainerService/managedClusters/${route.name}' under resource group '${route.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`)];
  }
  const clusterScope = `${scope}/${spec.name}`;
  if (!route.action) {
    if (method !== 'GET') return [405, armError('MethodNotAllowed', `The stand-in has no ${method} on a cluster.`)];
    if (!may(spec.users) && !may(spec.admins)) return [403, forbidden(appId, 'Microsoft.ContainerService/managedClusters/read', clusterScope)];
    return [200, clusterResource(o, spec)];
  }
  const admin = /admin/i.test(route.action);
  if (method !== 'POST') return [405, armError('MethodNotAllowed', `${route.action} takes POST.`)];
  if (!may(admin ? spec.admins : spec.users)) return [403, forbidden(appId, `Microsoft.ContainerService/managedClusters/${route.action}/action`, clusterScope)];
  if (admin && spec.disableLocalAccounts) return [400, armError('BadRequest', 'Getting static credential is not allowed because this cluster is set to disable local accounts.')];
  const value = Buffer.from(kubeconfig(o, spec, admin, front)).toString('base64');
  return [200, { kubeconfigs: [{ name: admin ? 'clusterAdmin' : 'clusterUser', value }] }];
}

/** The cluster's API server: AKS's authentication in front of the simulator. */
async function startApiServerFront(o: AksStandInOptions, tokens: { user: string; admin: string }, records: ApiServerRecord[]) {
  const upstream = new URL(o.upstream.url);
  return startServer((req, res, url) => {
    const token = bearerToken(req);
    const claims = token ? o.verifyToken(token) : undefined;
    const identity = !token ? 'anonymous'
      : token === tokens.user ? 'clusterUser'
      : token === tokens.admin ? 'clusterAdmin'
      : claims && claims.aud === aksServerAppId && claims.tid === o.tenantId ? `entra:${String(claims.appid)}` : undefined;
    if (!identity || (identity === 'anonymous' && !publicPaths.has(url.pathname))) {
      records.push({ path: url.pathname, identity: identity ?? 'rejected', status: 401 });
      return sendJson(res, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    const headers = { ...req.headers, host: upstream.host, ...(o.upstream.token ? { authorization: `Bearer ${o.upstream.token}` } : {}) };
    const forward = https.request({ hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, ca: o.upstream.caPem }, (answer) => {
      records.push({ path: url.pathname, identity, status: answer.statusCode ?? 0 });
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', (error) => (res.headersSent ? res.destroy() : sendJson(res, 502, { message: String(error) })));
    req.pipe(forward);
  }, o.tls);
}

export async function startAksStandIn(o: AksStandInOptions): Promise<AksStandIn> {
  const requests: AksRequestRecord[] = [];
  const apiRequests: ApiServerRecord[] = [];
  const tokens = { user: randomBytes(32).toString('hex'), admin: randomBytes(32).toString('hex') };
  const faults = new InjectedFaults();
  const runCommands = new RunCommands(o.runCommandKubeconfig);
  const apiServer = await startApiServerFront(o, tokens, apiRequests);
  const front = { url: apiServer.origin, caData: fs.readFileSync(o.tls.caCert).toString('base64'), tokens };
  let origin = '';
  const server = await startServer((req, res, url) => {
    const method = req.method ?? 'GET';
    const answer = (status: number, body: object, claims?: Claims) => {
      requests.push({ method, path: url.pathname, appId: claims?.appid as string | undefined, status });
      sendJson(res, status, body);
    };
    const fault = faults.take();
    if (fault !== undefined) return answer(fault, armError('ServiceUnavailable', 'The service is temporarily unavailable (stand-in fault).'));
    const token = bearerToken(req);
    const claims = token ? o.verifyToken(token) : undefined;
    if (!claims) return answer(401, armError('InvalidAuthenticationToken', 'The access token is invalid.'));
    if (String(claims.aud).replace(/\/$/, '') !== origin) return answer(401, armError('InvalidAuthenticationToken', `The access token has been obtained for wrong audience or resource '${String(claims.aud)}'.`), claims);
    const known = o.clusters.some((c) => url.pathname.toLowerCase().includes(`/resourcegroups/${c.resourceGroup.toLowerCase()}/providers/microsoft.containerservice/managedclusters/${c.name.toLowerCase()}/`));
    if (known && runCommands.handle(req, res, url, origin, (status) => requests.push({ method, path: url.pathname, appId: claims.appid as string | undefined, status }))) return;
    const match = clusterPath.exec(url.pathname);
    if (!match) return answer(404, armError('NotFound', `The stand-in has no ${method} ${url.pathname}.`), claims);
    if (url.searchParams.get('api-version') !== apiVersion) return answer(400, armError('InvalidApiVersionParameter', `The api-version '${url.searchParams.get('api-version')}' is invalid. The supported versions are '${apiVersion}'.`), claims);
    const route = { subscriptionId: match[1], resourceGroup: decodeURIComponent(match[2]), name: match[3] && decodeURIComponent(match[3]), action: match[4] };
    const [status, body] = armAnswer(o, method, route, String(claims.appid), front);
    answer(status, body, claims);
  }, o.tls);
  origin = server.origin;
  return {
    url: `${origin}/`, audience: origin, apiServerUrl: apiServer.origin, requests, apiRequests, userToken: tokens.user, adminToken: tokens.admin, runCommands,
    failNext: (count, status) => faults.failNext(count, status),
    close: async () => {
      await Promise.all([server.close(), apiServer.close()]);
    },
  };
}
