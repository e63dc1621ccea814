/**
 * The Azure Machine Learning workspace calls Fetch Latest Model needs, through Azure Resource
 * Manager (api-version 2023-04-01): Model Containers - Get (the latest version), Model Versions -
 * List / Get, Datastores - Get and Datastores - List Secrets.
 */
import type { PipelineResponse } from '@azure/core-rest-pipeline';
import { RemoteError, SettingError, type TaskError } from '../errors';
import { type ArmClient, type ArmTarget, armClient, armError, nextPageUrl, sendArmJson } from './arm';

export const machineLearningApiVersion = '2023-04-01';
const MAX_PAGES = 100;

export interface WorkspaceRef extends ArmTarget {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly workspace: string;
}

/** What a missing resource is fixed by changing (messages say '{input}' for its input). */
export type WorkspaceSetting = 'resourceGroup' | 'workspace' | 'modelName';

export interface ModelVersionRecord {
  readonly version: string;
  readonly modelUri: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface DatastoreRecord {
  readonly name: string;
  readonly datastoreType: string;
  readonly accountName: string;
  /** containerName for AzureBlob, filesystem for AzureDataLakeGen2. */
  readonly container: string;
  readonly endpoint: string;
  readonly protocol: string;
  readonly credentialsType: string;
}

export type DatastoreSecret = { readonly kind: 'AccountKey'; readonly key: string } | { readonly kind: 'Sas'; readonly sasToken: string };

interface VersionResource {
  name?: string;
  properties?: { modelUri?: string; tags?: Record<string, string> | null };
}

type What = 'model' | 'datastore';

export class MachineLearningClient {
  private readonly client: ArmClient;
  private readonly base: string;

  constructor(private readonly ref: WorkspaceRef) {
    this.client = armClient(ref);
    const [subscription, group, workspace] = [ref.subscriptionId, ref.resourceGroup, ref.workspace].map(encodeURIComponent);
    this.base = `${ref.armUrl}subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.MachineLearningServices/workspaces/${workspace}`;
  }

  /** The model's latestVersion (what `azureml:<name>@latest` means); fails naming modelName when there is no such model. */
  async latestVersion(model: string): Promise<string | undefined> {
    const container = await this.send<{ properties?: { latestVersion?: string | null } }>('GET', `/models/${encodeURIComponent(model)}`, 'model', model);
    return container.properties?.latestVersion ?? undefined;
  }

  /** Active (not archived) versions of the model, every page. */
  async listVersions(model: string): Promise<ModelVersionRecord[]> {
    const records: ModelVersionRecord[] = [];
    let url: string | undefined = this.url(`/models/${encodeURIComponent(model)}/versions`, '&listViewType=ActiveOnly');
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const body: { value?: VersionResource[]; nextLink?: string } = await this.sendUrl('GET', url, 'model', model);
      records.push(...(body.value ?? []).map(versionRecord));
      url = nextPageUrl(this.ref, body.nextLink);
    }
    return records;
  }

  async getVersion(model: string, version: string): Promise<ModelVersionRecord> {
    return versionRecord(await this.send<VersionResource>('GET', `/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}`, 'model', `${model}:${version}`));
  }

  async getDatastore(name: string): Promise<DatastoreRecord> {
    const body = await this.send<{ properties?: Record<string, unknown> & { credentials?: { credentialsType?: string } } }>('GET', `/datastores/${encodeURIComponent(name)}`, 'datastore', name);
    const p = body.properties ?? {};
    return Object.freeze({
      name,
      datastoreType: String(p.datastoreType ?? ''),
      accountName: String(p.accountName ?? ''),
      container: String(p.containerName ?? p.filesystem ?? ''),
      endpoint: String(p.endpoint ?? 'core.windows.net'),
      protocol: String(p.protocol ?? 'https'),
      credentialsType: String(p.credentials?.credentialsType ?? 'None'),
    });
  }

  async datastoreSecret(name: string): Promise<DatastoreSecret> {
    const body = await this.send<{ secretsType?: string; key?: string; sasToken?: string }>('POST', `/datastores/${encodeURIComponent(name)}/listSecrets`, 'datastore', name);
    if (body.secretsType === 'AccountKey' && body.key) return { kind: 'AccountKey', key: body.key };
    if (body.secretsType === 'Sas' && body.sasToken) return { kind: 'Sas', sasToken: body.sasToken };
    throw new RemoteError('AzureMlDatastoreSecretsUnsupported', [name, body.secretsType ?? '(none)']);
  }

  private url(path: string, query = ''): string {
    return `${this.base}${path}?api-version=${machineLearningApiVersion}${query}`;
  }

  private send<T>(method: 'GET' | 'POST', path: string, what: What, name: string): Promise<T> {
    return this.sendUrl(method, this.url(path), what, name);
  }

  private sendUrl<T>(method: 'GET' | 'POST', url: string, what: What, name: string): Promise<T> {
    return sendArmJson<T>(this.client, url, method, (response) => this.failure(response, url, what, name));
  }

  /** Which setting is wrong: ARM names a missing resource group or workspace; the ML service a missing asset. */
  private failure(response: PipelineResponse, url: string, what: What, name: string): TaskError {
    const { code, message } = armError(response);
    const reason = message ? `${code}: ${message}` : code;
    const { resourceGroup, workspace, subscriptionId, connectionName } = this.ref;
    if (response.status === 403) return new RemoteError('AzureMlForbidden', [connectionName, workspace, url.split('?')[0].slice(this.base.length) || '/', reason]);
    if (response.status === 404) {
      if (/ResourceGroupNotFound/i.test(code)) return new SettingError<WorkspaceSetting>('resourceGroup', 'AzureMlResourceGroupNotFound', [resourceGroup, subscriptionId, connectionName]);
      if (/SubscriptionNotFound/i.test(code)) return new RemoteError('AzureArmSubscriptionNotFound', [subscriptionId, connectionName, reason]);
      if (/ResourceNotFound|WorkspaceNotFound/i.test(code)) return new SettingError<WorkspaceSetting>('workspace', 'AzureMlWorkspaceNotFound', [workspace, resourceGroup, connectionName]);
      if (what === 'model') return new SettingError<WorkspaceSetting>('modelName', 'AzureMlModelNotFound', [name, workspace]);
      return new RemoteError('AzureMlDatastoreNotFound', [name, workspace]);
    }
    return new RemoteError('AzureArmRequestFailed', [url.split('?')[0], `HTTP ${response.status} ${reason}`]);
  }
}

function versionRecord(resource: VersionResource): ModelVersionRecord {
  return Object.freeze({ version: resource.name ?? '', modelUri: resource.properties?.modelUri ?? '', tags: Object.freeze({ ...(resource.properties?.tags ?? {}) }) });
}
