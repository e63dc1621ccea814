/**
 * A kubeconfig for an AKS cluster through Azure Resource Manager (api-version 2024-05-01):
 * Managed Clusters - Get (aadProfile, disableLocalAccounts), List Cluster User / Admin Credentials.
 * On a cluster with Microsoft Entra ID integration the user credential runs kubelogin; we replace
 * that user with a bearer token the service connection's own credential gets for the AKS server
 * application, so no kubelogin binary is needed.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { PipelineResponse } from '@azure/core-rest-pipeline';
import { INPUT_SLOT, RemoteError, SettingError, type TaskError } from '../errors';
import {
  type Kubeconfig, KubeconfigError, type KubeconfigOrigin, type ResolvedCluster, credentialValuesIn, entraServerIdOf, kubeconfigSecrets, parseKubeconfig, selectContext, serializeKubeconfig, useBearerToken,
} from '../kube/kubeconfig';
import { kubeconfigFailure } from '../kube/kubeconfigFailure';
import type { Log } from '../log';
import { type ArmClient, type ArmTarget, armClient, armError, listedNames, nextPageUrl, sendArmJson } from './arm';

export const aksApiVersion = '2024-05-01';
const userRole = 'Azure Kubernetes Service Cluster User Role';
const adminRole = 'Azure Kubernetes Service Cluster Admin Role';
const maxListedPages = 5;

export interface AksClusterRef extends ArmTarget {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly clusterName: string;
  readonly useClusterAdmin: boolean;
}

/** What a failure here is fixed by changing (messages say INPUT_SLOT for its input). */
export type AksSetting = 'resourceGroup' | 'cluster' | 'useClusterAdmin';

export interface AksDeps {
  /** Registers a secret with the agent before anything can print it. */
  readonly setSecret: (value: string) => void;
  readonly log: Log;
}

interface ManagedCluster {
  name?: string;
  properties?: { aadProfile?: { managed?: boolean; enableAzureRBAC?: boolean } | null; disableLocalAccounts?: boolean | null };
}

interface CredentialResults {
  kubeconfigs?: { name?: string; value?: string }[] | null;
}

type Answer<T> = { readonly body: T } | { readonly refused: PipelineResponse };

class AksClient {
  private readonly client: ArmClient;
  private readonly group: string;
  private readonly cluster: string;

  constructor(private readonly ref: AksClusterRef, private readonly log: Log) {
    this.client = armClient(ref);
    this.group = `${ref.armUrl}subscriptions/${encodeURIComponent(ref.subscriptionId)}/resourceGroups/${encodeURIComponent(ref.resourceGroup)}`;
    this.cluster = `${this.group}/providers/Microsoft.ContainerService/managedClusters/${encodeURIComponent(ref.clusterName)}`;
  }

  /** The cluster resource; undefined when the identity may list credentials but not read the cluster. */
  async get(): Promise<ManagedCluster | undefined> {
    const answer = await this.send<ManagedCluster>('GET', this.cluster);
    if ('body' in answer) return answer.body;
    if (answer.refused.status === 403) {
      this.log.debug(`Reading AKS cluster ${this.ref.clusterName} was forbidden; going on with its credentials alone.`);
      return undefined;
    }
    throw (await this.notFound(answer.refused)) ?? this.failed(this.cluster, answer.refused);
  }

  /** The kubeconfig AKS hands out, decoded; the encoded value is registered as a secret first. */
  async credentials(setSecret: (value: string) => void): Promise<string> {
    const action = this.ref.useClusterAdmin ? 'listClusterAdminCredential' : 'listClusterUserCredential';
    const url = `${this.cluster}/${action}`;
    const answer = await this.send<CredentialResults>('POST', url);
    if (!('body' in answer)) throw await this.credentialFailure(url, answer.refused);
    const wanted = this.ref.useClusterAdmin ? 'clusterAdmin' : 'clusterUser';
    const entries = answer.body.kubeconfigs ?? [];
    const value = (entries.find((entry) => entry.name === wanted) ?? entries[0])?.value;
    if (!value) throw kubeconfigFailure(new KubeconfigError('invalid', 'the answer holds no kubeconfig'), aksOrigin(this.ref));
    setSecret(value);
    return Buffer.from(value, 'base64').toString('utf8');
  }

  /** Names of the clusters in the resource group, for a "not found" message; best effort. */
  async clusterNames(): Promise<string> {
    const names: string[] = [];
    let url: string | undefined = `${this.group}/providers/Microsoft.ContainerService/managedClusters?api-version=${aksApiVersion}`;
    try {
      for (let page = 0; url && page < maxListedPages; page++) {
        const listUrl: string = url;
        const body = await sendArmJson<{ value?: ManagedCluster[]; nextLink?: string }>(this.client, listUrl, 'GET', (response) => this.failed(listUrl, response));
        names.push(...(body.value ?? []).map((cluster) => cluster.name ?? '').filter(Boolean));
        url = nextPageUrl(this.ref, body.nextLink);
      }
    } catch (error) {
      return `(they could not be listed: ${(error as Error).message})`;
    }
    return listedNames(names);
  }

  /** One request; a refusal comes back as the response, since explaining it may take another request. */
  private async send<T>(method: 'GET' | 'POST', url: string): Promise<Answer<T>> {
    let refused: PipelineResponse | undefined;
    try {
      const body = await sendArmJson<T>(this.client, `${url}?api-version=${aksApiVersion}`, method, (response) => {
        refused = response;
        return this.failed(url, response);
      });
      return { body };
    } catch (error) {
      if (refused) return { refused };
      throw error;
    }
  }

  private async credentialFailure(url: string, response: PipelineResponse): Promise<TaskError> {
    const { code, message } = armError(response);
    const reason = message ? `${code}: ${message}` : code;
    const { connectionName, clusterName, resourceGroup, useClusterAdmin } = this.ref;
    if (response.status === 403) {
      const what = useClusterAdmin ? 'list the cluster admin credentials' : 'list the cluster user credentials';
      return new RemoteError('AksForbidden', [connectionName, what, clusterName, resourceGroup, reason, useClusterAdmin ? adminRole : userRole]);
    }
    if (response.status === 400 && /local account/i.test(message)) return localAccountsDisabled(this.ref);
    return (await this.notFound(response)) ?? this.failed(url, response);
  }

  private async notFound(response: PipelineResponse): Promise<TaskError | undefined> {
    if (response.status !== 404) return undefined;
    const { code, message } = armError(response);
    const { subscriptionId, connectionName, resourceGroup, clusterName } = this.ref;
    if (/SubscriptionNotFound/i.test(code)) return new RemoteError('AzureArmSubscriptionNotFound', [subscriptionId, connectionName, `${code}: ${message}`]);
    if (/ResourceGroupNotFound/i.test(code)) return new SettingError<AksSetting>('resourceGroup', 'AksResourceGroupNotFound', [INPUT_SLOT, resourceGroup, subscriptionId, connectionName]);
    const listed = await this.clusterNames();
    return new SettingError<AksSetting>('cluster', 'AksClusterNotFound', [INPUT_SLOT, clusterName, resourceGroup, subscriptionId, connectionName, listed]);
  }

  private failed(url: string, response: PipelineResponse): TaskError {
    const { code, message } = armError(response);
    return new RemoteError('AzureArmRequestFailed', [url.split('?')[0], `HTTP ${response.status} ${message ? `${code}: ${message}` : code}`]);
  }
}

function localAccountsDisabled(ref: AksClusterRef): TaskError {
  return new SettingError<AksSetting>('useClusterAdmin', 'AksLocalAccountsDisabled', [INPUT_SLOT, ref.clusterName, ref.resourceGroup, INPUT_SLOT]);
}

async function entraToken(credential: TokenCredential, serverId: string, ref: AksClusterRef): Promise<AccessToken> {
  const token = await credential.getToken(`${serverId}/.default`);
  if (!token) throw new RemoteError('AzureTokenFailed', [ref.connectionName, `no token for the AKS server application ${serverId}`]);
  return token;
}

/** Swaps every Entra ID user (kubelogin exec or azure auth-provider) for a bearer token; returns when the first token expires. */
async function signInWithEntra(doc: Kubeconfig, ref: AksClusterRef, deps: AksDeps): Promise<Date | undefined> {
  const tokens = new Map<string, AccessToken>();
  let expiresOn: number | undefined;
  for (const user of doc.users) {
    const serverId = entraServerIdOf(user);
    if (!serverId) continue;
    let token = tokens.get(serverId);
    if (!token) {
      token = await entraToken(ref.credential, serverId, ref);
      deps.setSecret(token.token);
      tokens.set(serverId, token);
    }
    useBearerToken(user, token.token);
    expiresOn = Math.min(expiresOn ?? Infinity, token.expiresOnTimestamp);
  }
  return expiresOn === undefined ? undefined : new Date(expiresOn);
}

/** The kubeconfigs here are the credentials AKS issued for the cluster: their problems are told as such. */
function aksOrigin(ref: AksClusterRef): KubeconfigOrigin {
  return { kind: 'aks', cluster: ref.clusterName, resourceGroup: ref.resourceGroup, connection: ref.connectionName, admin: ref.useClusterAdmin };
}

function parsed(text: string, ref: AksClusterRef): Kubeconfig {
  try {
    const doc = parseKubeconfig(text);
    selectContext(doc, undefined);
    return doc;
  } catch (error) {
    if (!(error instanceof KubeconfigError)) throw error;
    throw kubeconfigFailure(error, aksOrigin(ref));
  }
}

function describe(ref: AksClusterRef, entraManaged: boolean, expiresOn: Date | undefined): string {
  const where = `cluster ${ref.clusterName} in ${ref.resourceGroup}`;
  if (expiresOn) return `${where} (Microsoft Entra ID token of service connection '${ref.connectionName}', valid until ${expiresOn.toISOString()})`;
  if (ref.useClusterAdmin) return `${where} (cluster admin credentials)`;
  return `${where} (cluster user credentials${entraManaged ? '' : ', local account'})`;
}

/** The kubeconfig to deploy with, every credential in it registered through deps.setSecret first. */
export async function aksKubeconfig(ref: AksClusterRef, deps: AksDeps): Promise<ResolvedCluster> {
  const client = new AksClient(ref, deps.log);
  const cluster = await client.get();
  if (ref.useClusterAdmin && cluster?.properties?.disableLocalAccounts) throw localAccountsDisabled(ref);
  const text = await client.credentials(deps.setSecret);
  // Register what the file holds before parsing it: nothing may see a credential first.
  for (const value of credentialValuesIn(text)) deps.setSecret(value);
  const doc = parsed(text, ref);
  for (const secret of kubeconfigSecrets(doc)) deps.setSecret(secret);
  const expiresOn = await signInWithEntra(doc, ref, deps);
  if (expiresOn) deps.log.info('AksEntraToken', ref.clusterName, ref.connectionName, expiresOn.toISOString(), Math.round((expiresOn.getTime() - Date.now()) / 60_000));
  return {
    kubeconfig: serializeKubeconfig(doc),
    origin: aksOrigin(ref),
    describe: describe(ref, !!cluster?.properties?.aadProfile?.managed, expiresOn),
    secrets: kubeconfigSecrets(doc),
    ...(expiresOn ? { expiresOn } : {}),
  };
}
