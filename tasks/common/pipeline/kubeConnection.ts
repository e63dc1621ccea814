/**
 * How Deploy AI App To AKS reaches its cluster. connectionType 'kubernetesServiceConnection' reads a
 * Kubernetes service connection the way Microsoft's Kubernetes@1 and KubernetesManifest@1 tasks do
 * (data authorizationType: Kubeconfig, or ServiceAccount / AzureSubscription = server URL + base64
 * apiToken + serviceAccountCertificate); 'azureResourceManager' asks AKS for credentials through ARM.
 * readClusterAccess only reads and checks; resolveKubeconfig does the network part.
 */
import type { TokenCredential } from '@azure/identity';
import { aksKubeconfig } from '../azure/aks';
import { armTargetFor } from '../azure/arm';
import { type AzureRmConnection, readAzureRmConnection } from '../azure/connection';
import { azureCredential } from '../azure/credential';
import { requestPipelineOidcToken } from '../azure/oidc';
import { InputError } from '../errors';
import {
  type Kubeconfig, KubeconfigError, type ResolvedCluster, credentialValuesIn, interactiveEntraLogin, kubeconfigSecrets, parseKubeconfig, selectContext, serializeKubeconfig, serverHost, skipTlsVerify,
} from '../kube/kubeconfig';
import type { Log } from '../log';
import type { Network } from '../net/network';
import { type RetryPolicy, retryPolicy } from '../net/retry';
import type { MessageKey } from '../messages';
import type { Agent, Endpoint } from './agent';
import { type DevOpsContext, devOpsContextOf } from './devops';
import { boolInput, pickInput, requiredInput } from './inputs';
import { readingInputs } from './settings';

export type { ResolvedCluster } from '../kube/kubeconfig';

export const connectionTypes = ['kubernetesServiceConnection', 'azureResourceManager'] as const;
export type ConnectionType = (typeof connectionTypes)[number];
const authorizationTypes = ['Kubeconfig', 'ServiceAccount', 'AzureSubscription'] as const;
export type KubeAuthorizationType = (typeof authorizationTypes)[number];

/** A Kubernetes service connection, already turned into a kubeconfig (no network needed). */
export interface ServiceConnectionAccess {
  readonly kind: 'kubernetesServiceConnection';
  /** The connection as the user named it. */
  readonly connectionName: string;
  readonly authorizationType: KubeAuthorizationType;
  readonly context: string;
  readonly server: string;
  /** acceptUntrustedCerts: TLS verification is off. */
  readonly insecure: boolean;
  /** Non-enumerable, like the secrets it holds: JSON.stringify and inspect skip it. */
  readonly kubeconfig: string;
  /** Non-enumerable; all registered with the agent already. */
  readonly secrets: readonly string[];
}

/** An AKS cluster reached through an Azure Resource Manager service connection. */
export interface AzureClusterAccess {
  readonly kind: 'azureResourceManager';
  readonly connection: AzureRmConnection;
  readonly devOps: DevOpsContext;
  readonly resourceGroup: string;
  readonly clusterName: string;
  readonly useClusterAdmin: boolean;
}

export type ClusterAccessRequest = ServiceConnectionAccess | AzureClusterAccess;

/** What each error names: the input and the connection as the user knows them. */
interface Context {
  readonly agent: Agent;
  /** agent.setSecret, once per value. */
  readonly register: (value: string) => void;
  readonly endpoint: Endpoint;
  readonly input: string;
  readonly name: string;
}

function fail(context: Context, key: MessageKey, ...rest: unknown[]): never {
  throw new InputError(context.input, key, [context.input, context.name, ...rest]);
}

function authorizationTypeOf(context: Context): KubeAuthorizationType {
  // Microsoft's tasks read data authorizationType and treat an empty one as Kubeconfig.
  const raw = context.endpoint.data('authorizationType') ?? context.endpoint.authParameter('authorizationType');
  if (!raw) return 'Kubeconfig';
  const match = authorizationTypes.find((type) => type.toLowerCase() === raw.toLowerCase());
  return match ?? fail(context, 'KubeConnectionAuthTypeUnsupported', raw, authorizationTypes.join(', '));
}

function parsed(context: Context, text: string): Kubeconfig {
  try {
    return parseKubeconfig(text);
  } catch (error) {
    if (error instanceof KubeconfigError) fail(context, 'KubeConnectionKubeconfigInvalid', error.reason);
    throw error;
  }
}

function kubeconfigOf(context: Context): Kubeconfig {
  // Read without echo, but not registered whole: the agent would mask every long line of it
  // ("server: https://...", "namespace: ...") wherever it appears. Its credentials are registered.
  const text = context.endpoint.authParameter('kubeconfig') ?? fail(context, 'KubeConnectionKubeconfigMissing');
  for (const value of credentialValuesIn(text)) context.register(value);
  return parsed(context, text);
}

function strictBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (!compact || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** Microsoft's tasks base64-decode apiToken (a Secret's data.token); a raw JWT, never valid base64, is taken as is. */
function serviceAccountToken(context: Context, raw: string): string {
  const decoded = strictBase64(raw)?.toString('utf8');
  if (decoded && /^[\x21-\x7e]+$/.test(decoded)) return decoded;
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(raw.trim())) return raw.trim();
  return fail(context, 'KubeConnectionTokenInvalid');
}

/** certificate-authority-data is base64 of PEM: Microsoft's tasks copy a Secret's data["ca.crt"] as is; a pasted PEM is encoded. */
function certificateAuthorityData(context: Context, raw: string): string {
  if (raw.includes('-----BEGIN CERTIFICATE-----')) return Buffer.from(`${raw.trim()}\n`).toString('base64');
  const decoded = strictBase64(raw)?.toString('utf8');
  if (decoded?.includes('-----BEGIN CERTIFICATE-----')) return raw.replace(/\s+/g, '');
  return fail(context, 'KubeConnectionCertificateInvalid');
}

function serverUrlOf(context: Context, type: KubeAuthorizationType): string {
  const server = context.endpoint.url ?? fail(context, 'KubeConnectionServerMissing', type);
  try {
    if (/^https?:$/.test(new URL(server).protocol)) return server;
  } catch {
    // reported below
  }
  return fail(context, 'KubeConnectionServerInvalid', server);
}

/** ServiceAccount and AzureSubscription connections: server URL + token + CA, as Microsoft's createKubeconfig builds it. */
function serviceAccountKubeconfig(context: Context, type: KubeAuthorizationType): Kubeconfig {
  const { endpoint, agent, register } = context;
  const server = serverUrlOf(context, type);
  const raw = endpoint.secretAuthParameter('apiToken') ?? fail(context, type === 'AzureSubscription' ? 'KubeConnectionAzureTokenMissing' : 'KubeConnectionTokenMissing', type);
  register(raw);
  const token = serviceAccountToken(context, raw);
  register(token);
  agent.log.debug(`Service account connection (isCreatedFromSecretYaml: ${endpoint.authParameter('isCreatedFromSecretYaml') ?? 'not set'}).`);
  const certificate = endpoint.authParameter('serviceAccountCertificate');
  const namespace = endpoint.data('namespace');
  const name = 'kubernetes-service-connection';
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, ...(certificate ? { 'certificate-authority-data': certificateAuthorityData(context, certificate) } : {}) } }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: name, ...(namespace ? { namespace } : {}) } }],
    'current-context': name,
  };
}

function selected(context: Context, doc: Kubeconfig, wanted: string | undefined): ReturnType<typeof selectContext> {
  try {
    return selectContext(doc, wanted);
  } catch (error) {
    if (!(error instanceof KubeconfigError)) throw error;
    const contexts = error.contexts.join(', ') || '(none)';
    if (error.problem === 'noContext') fail(context, 'KubeConnectionNoContext', contexts);
    if (error.problem === 'contextMissing') fail(context, 'KubeConnectionContextMissing', wanted ?? doc['current-context'], contexts);
    if (error.problem === 'shellCommand') fail(context, 'KubeConnectionCmdPathRefused', ...error.subject);
    return fail(context, 'KubeConnectionKubeconfigInvalid', error.reason);
  }
}

function hidden<T extends object>(value: T, fields: Record<string, unknown>): T {
  for (const [key, field] of Object.entries(fields)) Object.defineProperty(value, key, { value: field, enumerable: false });
  return Object.freeze(value);
}

function readServiceConnection(agent: Agent): ServiceConnectionAccess {
  const input = 'kubernetesServiceConnection';
  const id = requiredInput(agent, input, "connectionType is 'kubernetesServiceConnection'");
  const endpoint = agent.endpoint(id);
  if (!endpoint) throw new InputError(input, 'EndpointMissing', [input, id]);
  const context: Context = { agent, register: (value) => agent.setSecret(value), endpoint, input, name: id };
  const authorizationType = authorizationTypeOf(context);
  const doc = authorizationType === 'Kubeconfig' ? kubeconfigOf(context) : serviceAccountKubeconfig(context, authorizationType);
  const secrets = kubeconfigSecrets(doc);
  for (const secret of secrets) agent.setSecret(secret);
  // Microsoft's tasks read clusterContext as an authorization parameter; accept it as data too.
  const selection = selected(context, doc, endpoint.authParameter('clusterContext') ?? endpoint.data('clusterContext'));
  const login = interactiveEntraLogin(selection.user);
  if (login) fail(context, 'KubeConnectionEntraInteractive', login);
  const insecure = endpoint.data('acceptUntrustedCerts')?.toLowerCase() === 'true';
  if (insecure) {
    skipTlsVerify(doc);
    agent.log.warn('KubeConnectionInsecure', id);
  }
  const access = { kind: 'kubernetesServiceConnection', connectionName: id, authorizationType, context: selection.context, server: selection.server, insecure } as const;
  return hidden(access as ServiceConnectionAccess, { kubeconfig: serializeKubeconfig(doc), secrets: Object.freeze(secrets) });
}

const resourceGroupPattern = /^[\p{L}\p{N}._()-]{1,90}$/u;
const clusterNamePattern = /^[A-Za-z0-9](?:[-_A-Za-z0-9]{0,61}[A-Za-z0-9])?$/;

function nameInput(agent: Agent, input: string, valid: (value: string) => boolean, key: MessageKey): string {
  const value = requiredInput(agent, input, "connectionType is 'azureResourceManager'");
  if (!valid(value)) throw new InputError(input, key, [input, value]);
  return value;
}

function readAzureAccess(agent: Agent): AzureClusterAccess {
  const input = 'azureSubscription';
  const id = requiredInput(agent, input, "connectionType is 'azureResourceManager'");
  const connection = readingInputs({ clusterConnection: input }, () => readAzureRmConnection(agent.endpoint(id), 'clusterConnection', id));
  const resourceGroup = nameInput(agent, 'resourceGroup', (v) => resourceGroupPattern.test(v) && !v.endsWith('.'), 'KubeConnectionResourceGroupInvalid');
  const clusterName = nameInput(agent, 'kubernetesCluster', (v) => clusterNamePattern.test(v), 'KubeConnectionClusterNameInvalid');
  const useClusterAdmin = boolInput(agent, 'useClusterAdmin', false);
  return Object.freeze({ kind: 'azureResourceManager', connection, devOps: devOpsContextOf(agent, connection.id), resourceGroup, clusterName, useClusterAdmin });
}

/** Reads and checks the cluster inputs and their service connection; registers every secret it meets. No network. */
export function readClusterAccess(agent: Agent): ClusterAccessRequest {
  const type = pickInput(agent, 'connectionType', connectionTypes, 'kubernetesServiceConnection');
  return type === 'azureResourceManager' ? readAzureAccess(agent) : readServiceConnection(agent);
}

export interface ResolveDeps {
  /** Registers a secret before anything can print it (the agent's setSecret). */
  readonly setSecret: (value: string) => void;
  readonly log: Log;
  readonly network: Network;
  /** The agent's cancel. */
  readonly signal?: AbortSignal;
  /** Replaces the service connection's own credential (tests, the demo). */
  readonly credential?: TokenCredential;
  /** The retry policy of the ARM and Entra calls; the default policy otherwise. */
  readonly retry?: RetryPolicy;
}

function describeServiceConnection(access: ServiceConnectionAccess): string {
  const how = access.authorizationType === 'Kubeconfig' ? `context ${access.context}` : access.authorizationType === 'ServiceAccount' ? 'service account token' : 'service account token from an Azure subscription';
  return `${serverHost(access.server)} (${how} of service connection '${access.connectionName}'${access.insecure ? ', TLS not verified' : ''})`;
}

/** The kubeconfig to deploy with; for AKS through ARM, every credential in it registered through deps.setSecret first. */
export async function resolveKubeconfig(request: ClusterAccessRequest, deps: ResolveDeps): Promise<ResolvedCluster> {
  let resolved: ResolvedCluster;
  if (request.kind === 'kubernetesServiceConnection') {
    resolved = { kubeconfig: request.kubeconfig, describe: describeServiceConnection(request), secrets: request.secrets };
  } else {
    const { connection } = request;
    const transport = { network: deps.network, signal: deps.signal, retry: deps.retry ?? retryPolicy(), log: deps.log };
    const credential = deps.credential ?? azureCredential(connection, { oidcToken: () => requestPipelineOidcToken(request.devOps, transport), transport });
    resolved = await aksKubeconfig({
      ...armTargetFor(connection, { credential, transport }),
      subscriptionId: connection.subscriptionId, resourceGroup: request.resourceGroup, clusterName: request.clusterName, useClusterAdmin: request.useClusterAdmin,
    }, deps);
  }
  deps.log.info('KubeConnectionUsing', resolved.describe);
  return resolved;
}
