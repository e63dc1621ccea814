/**
 * How Deploy AI App To AKS reaches its cluster: reading the connection. connectionType
 * 'kubernetesServiceConnection' reads a Kubernetes service connection the way Microsoft's
 * Kubernetes@1 and KubernetesManifest@1 tasks do (data authorizationType: Kubeconfig, or
 * ServiceAccount / AzureSubscription = server URL + base64 apiToken + serviceAccountCertificate);
 * 'azureResourceManager' reads the connection and the cluster's name. No network: the core's
 * resolveKubeconfig (azure/clusterAccess.ts) does that part.
 */
import { readAzureRmConnection } from '../azure/connection';
import type { AzureClusterAccess, ClusterAccessRequest, KubeAuthorizationType, ServiceConnectionAccess } from '../azure/clusterAccess';
import { DeployAiAppToAksInputs as Inputs } from '../contract/deployAiAppToAks';
import { InputError } from './inputError';
import {
  type Kubeconfig, KubeconfigError, credentialValuesIn, interactiveEntraLogin, kubeconfigSecrets, parseKubeconfig, selectContext, serializeKubeconfig, skipTlsVerify,
} from '../kube/kubeconfig';
import { kubeconfigFailure } from '../kube/kubeconfigFailure';
import type { MessageKey } from '../messages';
import type { Agent, Endpoint } from './agent';
import { devOpsContextOf } from './devops';
import { boolInput, pickInput, requiredInput } from './inputs';
import { type SettingInputs, readingInputs } from './settings';

export type ConnectionType = (typeof Inputs.connectionType.options)[number];
const authorizationTypes: readonly KubeAuthorizationType[] = ['Kubeconfig', 'ServiceAccount', 'AzureSubscription'];

/** Which input carries each setting of the cluster's connection, by connection type. */
const CLUSTER_SETTINGS: Readonly<Record<ConnectionType, SettingInputs>> = Object.freeze({
  // 'kubeconfig': one connectCluster got without its origin (tests, the demo) is the connection's here, never in an azureResourceManager run.
  kubernetesServiceConnection: Object.freeze({ clusterConnection: Inputs.kubernetesServiceConnection.name, kubeconfig: Inputs.kubernetesServiceConnection.name }),
  azureResourceManager: Object.freeze({
    clusterConnection: Inputs.azureSubscription.name, resourceGroup: Inputs.resourceGroup.name, cluster: Inputs.kubernetesCluster.name, useClusterAdmin: Inputs.useClusterAdmin.name, privateCluster: Inputs.privateCluster.name,
  }),
});

export function clusterSettings(type: ConnectionType): SettingInputs {
  return CLUSTER_SETTINGS[type];
}

/** The connection type a request was read from. */
export function connectionTypeOf(request: ClusterAccessRequest): ConnectionType {
  return request.kind === 'aks' ? 'azureResourceManager' : 'kubernetesServiceConnection';
}

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

/** The core's checks of the kubeconfig; a failure is the connection's (setting 'clusterConnection'). */
function checkedKubeconfig<T>(context: Context, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof KubeconfigError) throw kubeconfigFailure(error, { kind: 'serviceConnection', connection: context.name });
    throw error;
  }
}

function kubeconfigOf(context: Context): Kubeconfig {
  // Read without echo, but not registered whole: the agent would mask every long line of it
  // ("server: https://...", "namespace: ...") wherever it appears. Its credentials are registered.
  const text = context.endpoint.authParameter('kubeconfig') ?? fail(context, 'KubeConnectionKubeconfigMissing');
  for (const value of credentialValuesIn(text)) context.register(value);
  return checkedKubeconfig(context, () => parseKubeconfig(text));
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

function hidden<T extends object>(value: T, fields: Record<string, unknown>): T {
  for (const [key, field] of Object.entries(fields)) Object.defineProperty(value, key, { value: field, enumerable: false });
  return Object.freeze(value);
}

function readServiceConnection(agent: Agent): ServiceConnectionAccess {
  const input = Inputs.kubernetesServiceConnection.name;
  const id = requiredInput(agent, input, "connectionType is 'kubernetesServiceConnection'");
  const endpoint = agent.endpoint(id);
  if (!endpoint) throw new InputError(input, 'EndpointMissing', [input, id]);
  const context: Context = { agent, register: (value) => agent.setSecret(value), endpoint, input, name: id };
  const authorizationType = authorizationTypeOf(context);
  const doc = authorizationType === 'Kubeconfig' ? kubeconfigOf(context) : serviceAccountKubeconfig(context, authorizationType);
  const secrets = kubeconfigSecrets(doc);
  for (const secret of secrets) agent.setSecret(secret);
  // Microsoft's tasks read clusterContext as an authorization parameter; accept it as data too.
  const wanted = endpoint.authParameter('clusterContext') ?? endpoint.data('clusterContext');
  const selection = checkedKubeconfig(context, () => selectContext(doc, wanted));
  const login = interactiveEntraLogin(selection.user);
  if (login) fail(context, 'KubeConnectionEntraInteractive', login);
  const insecure = endpoint.data('acceptUntrustedCerts')?.toLowerCase() === 'true';
  if (insecure) {
    skipTlsVerify(doc);
    agent.log.warn('KubeConnectionInsecure', id);
  }
  const access = { kind: 'serviceConnection', connectionName: id, authorizationType, context: selection.context, server: selection.server, insecure } as const;
  return hidden(access as ServiceConnectionAccess, { kubeconfig: serializeKubeconfig(doc), secrets: Object.freeze(secrets) });
}

const resourceGroupPattern = /^[\p{L}\p{N}._()-]{1,90}$/u;
const clusterNamePattern = /^[A-Za-z0-9](?:[-_A-Za-z0-9]{0,61}[A-Za-z0-9])?$/;

function nameInput(agent: Agent, input: { readonly name: string }, valid: (value: string) => boolean, key: MessageKey): string {
  const value = requiredInput(agent, input, "connectionType is 'azureResourceManager'");
  if (!valid(value)) throw new InputError(input.name, key, [input.name, value]);
  return value;
}

function readAzureAccess(agent: Agent): AzureClusterAccess {
  const id = requiredInput(agent, Inputs.azureSubscription, "connectionType is 'azureResourceManager'");
  const connection = readAzureRmConnection(agent.endpoint(id), 'clusterConnection', id);
  const resourceGroup = nameInput(agent, Inputs.resourceGroup, (v) => resourceGroupPattern.test(v) && !v.endsWith('.'), 'KubeConnectionResourceGroupInvalid');
  const clusterName = nameInput(agent, Inputs.kubernetesCluster, (v) => clusterNamePattern.test(v), 'KubeConnectionClusterNameInvalid');
  const useClusterAdmin = boolInput(agent, Inputs.useClusterAdmin);
  const privateCluster = boolInput(agent, Inputs.privateCluster);
  return Object.freeze({ kind: 'aks', connection, devOps: devOpsContextOf(agent, connection.id), resourceGroup, clusterName, useClusterAdmin, privateCluster });
}

const READERS: Readonly<Record<ConnectionType, (agent: Agent) => ClusterAccessRequest>> = {
  kubernetesServiceConnection: readServiceConnection,
  azureResourceManager: readAzureAccess,
};

/** Reads and checks the cluster inputs and their service connection; registers every secret it meets. No network. */
export function readClusterAccess(agent: Agent): ClusterAccessRequest {
  const type = pickInput(agent, Inputs.connectionType);
  return readingInputs(clusterSettings(type), () => READERS[type](agent));
}
