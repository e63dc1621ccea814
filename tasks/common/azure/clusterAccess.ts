/**
 * Cluster access resolved into the kubeconfig Deploy connects with. A Kubernetes service connection
 * already is one (pipeline/kubeConnection.ts reads it without any request); an AKS cluster reached
 * through an Azure Resource Manager connection takes Entra ID (or the pipeline's OIDC token) for the
 * connection's identity, then ARM for the cluster's credentials.
 */
import type { TokenCredential } from '@azure/identity';
import { type ResolvedCluster, aksEntraServerAppId, serverHost } from '../kube/kubeconfig';
import type { Log } from '../log';
import type { Network } from '../net/network';
import { type RetryPolicy, retryPolicy } from '../net/retry';
import { aksKubeconfig } from './aks';
import type { RunCommandTarget } from './aksRunCommand';
import type { AzureTransport } from './transport';
import { armTargetFor } from './arm';
import type { AzureRmConnection } from './connection';
import { azureCredential } from './credential';
import { type OidcContext, requestPipelineOidcToken } from './oidc';

export type { ResolvedCluster } from '../kube/kubeconfig';

export type KubeAuthorizationType = 'Kubeconfig' | 'ServiceAccount' | 'AzureSubscription';

/** A Kubernetes service connection, already turned into a kubeconfig (no network needed). */
export interface ServiceConnectionAccess {
  readonly kind: 'serviceConnection';
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
  readonly kind: 'aks';
  readonly connection: AzureRmConnection;
  /** Where the job asks Azure DevOps for its OIDC token (workload identity federation). */
  readonly devOps: OidcContext;
  readonly resourceGroup: string;
  readonly clusterName: string;
  readonly useClusterAdmin: boolean;
  /** The API server is private: deploy through AKS run command (kube/privateDeploy.ts). */
  readonly privateCluster?: boolean;
}

export type ClusterAccessRequest = ServiceConnectionAccess | AzureClusterAccess;

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

function armAccess(request: AzureClusterAccess, deps: ResolveDeps): { credential: TokenCredential; transport: AzureTransport } {
  const transport = { network: deps.network, signal: deps.signal, retry: deps.retry ?? retryPolicy(), log: deps.log };
  const credential = deps.credential ?? azureCredential(request.connection, { oidcToken: () => requestPipelineOidcToken(request.devOps, transport), transport });
  return { credential, transport };
}

/**
 * Where AKS run command is sent for a private cluster, and the connection's Entra token for the AKS
 * server application (the clusterToken, registered as a secret), so the command acts as the connection.
 */
export async function resolveRunCommandTarget(request: AzureClusterAccess, deps: ResolveDeps): Promise<{ target: RunCommandTarget; clusterToken?: string }> {
  const { connection } = request;
  const access = armAccess(request, deps);
  const target = { ...armTargetFor(connection, access), subscriptionId: connection.subscriptionId, resourceGroup: request.resourceGroup, clusterName: request.clusterName };
  deps.log.info('KubeConnectionUsing', `${request.clusterName} (private; AKS run command through Azure Resource Manager, service connection '${connection.name}')`);
  // As `az aks command invoke` does for Entra ID clusters; a cluster with local accounts runs the command without it.
  const token = await access.credential.getToken(`${aksEntraServerAppId}/.default`, { abortSignal: deps.signal }).catch((error: unknown) => {
    deps.log.debug(`No token for the AKS server application (${error instanceof Error ? error.message : String(error)}); AKS runs the command with its own.`);
    return null;
  });
  if (token?.token) deps.setSecret(token.token);
  return { target, ...(token?.token ? { clusterToken: token.token } : {}) };
}

function aksCluster(request: AzureClusterAccess, deps: ResolveDeps): Promise<ResolvedCluster> {
  const { connection } = request;
  const { credential, transport } = armAccess(request, deps);
  return aksKubeconfig({
    ...armTargetFor(connection, { credential, transport }),
    subscriptionId: connection.subscriptionId, resourceGroup: request.resourceGroup, clusterName: request.clusterName, useClusterAdmin: request.useClusterAdmin,
  }, deps);
}

/**
 * The kubeconfig to deploy with; for AKS through ARM, every credential in it registered through
 * deps.setSecret first. AKS failures name settings 'resourceGroup', 'cluster' and 'useClusterAdmin'.
 */
export async function resolveKubeconfig(request: ClusterAccessRequest, deps: ResolveDeps): Promise<ResolvedCluster> {
  const resolved = request.kind === 'serviceConnection'
    ? { kubeconfig: request.kubeconfig, origin: { kind: 'serviceConnection', connection: request.connectionName } as const, describe: describeServiceConnection(request), secrets: request.secrets }
    : await aksCluster(request, deps);
  deps.log.info('KubeConnectionUsing', resolved.describe);
  return resolved;
}
