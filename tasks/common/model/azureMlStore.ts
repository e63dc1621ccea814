/**
 * An Azure Machine Learning workspace's model as a model store. Each active model version is one
 * version folder `<version>/<path>`: the version comes from the registry, the files from the blob
 * datastore its modelUri points into, read through the blob store. The version's tags answer
 * a tag query; the label latest is the workspace's own latestVersion.
 */
import type { Readable } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import type { DatastoreRecord, MachineLearningClient, ModelVersionRecord } from '../azure/machineLearning';
import { SettingError, TaskError } from '../errors';
import type { AzureTransport } from '../azure/transport';
import { type BlobAccess, openBlobStore } from './blobStore';
import { mapBounded } from '../boundedMap';
import type { SelectionRule } from './select';
import type { ModelSetting } from './settings';
import type { ModelStore, StoredObject } from './store';
import { matchesTagQuery } from './tagQuery';
import { sameVersionText } from './version';

export interface AzureMlModel {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly workspace: string;
  readonly modelName: string;
  /** Only 'latest' exists for Azure ML models (azureml:<name>@latest). */
  readonly label?: 'latest';
  /** Lets the store skip listing files of versions the rule can never choose. */
  readonly rule: SelectionRule;
}

export interface AzureMlDeps {
  readonly client: MachineLearningClient;
  /** The service connection's identity, for datastores that hold no credential of their own. */
  readonly credential: TokenCredential;
  /** Registers a datastore key or SAS as a secret before anything could print it. */
  readonly registerSecret: (value: string) => void;
  /** How the datastores' blob clients send. */
  readonly transport: AzureTransport;
}

interface ListedFile {
  readonly object: StoredObject;
  readonly inner: StoredObject;
  readonly store: ModelStore;
}

/** Blob listings (one per version) in flight at once. */
const VERSIONS_AT_ONCE = 8;

export function openAzureMlStore(model: AzureMlModel, deps: AzureMlDeps): ModelStore {
  return new AzureMlModelStore(model, deps);
}

class AzureMlModelStore implements ModelStore {
  readonly location: string;
  private listing?: Promise<{ records: ModelVersionRecord[]; files: Map<string, ListedFile> }>;
  private readonly datastores = new Map<string, Promise<ModelStore>>();

  constructor(
    private readonly model: AzureMlModel,
    private readonly deps: AzureMlDeps,
  ) {
    const { subscriptionId, resourceGroup, workspace, modelName } = model;
    this.location = `azureml://subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/workspaces/${workspace}/models/${modelName}`;
  }

  async *list(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject> {
    for (const file of (await this.load(signal)).files.values()) if (file.object.name.startsWith(prefix)) yield file.object;
  }

  async *findByTags(query: string, prefix: string, signal: AbortSignal): AsyncIterable<string> {
    const { records, files } = await this.load(signal);
    const matching = new Set(records.filter((record) => matchesTagQuery(query, record.tags, this.model.modelName)).map((record) => `${record.version}/`));
    for (const name of files.keys()) if (name.startsWith(prefix) && matching.has(name.slice(0, name.indexOf('/') + 1))) yield name;
  }

  async readRange(object: StoredObject, offset: number, count: number, signal: AbortSignal): Promise<Readable> {
    const file = (await this.load(signal)).files.get(object.name);
    if (!file) throw new TaskError('ObjectChanged', [`${this.location}/versions/${object.name}`]);
    return file.store.readRange(file.inner, offset, count, signal);
  }

  uriOf(name: string): string {
    return `${this.location}/versions/${name.split('/')[0]}`;
  }

  private load(signal: AbortSignal) {
    this.listing ??= (async () => {
      const records = await this.versionRecords();
      const listed = await mapBounded(this.narrowed(records), VERSIONS_AT_ONCE, (record) => this.filesOf(record, signal));
      return { records, files: new Map(listed.flat().map((file) => [file.object.name, file])) };
    })();
    return this.listing;
  }

  /** The versions whose files are worth listing; all of them when the rule would find none, so errors can say what exists. */
  private narrowed(records: ModelVersionRecord[]): ModelVersionRecord[] {
    const rule = this.model.rule;
    const keep = records.filter((record) => {
      if (rule.kind === 'pinned') return sameVersionText(record.version, rule.version);
      if (rule.kind === 'tagQuery') return matchesTagQuery(rule.query, record.tags, this.model.modelName);
      return true;
    });
    return keep.length > 0 ? keep : records;
  }

  private async versionRecords(): Promise<ModelVersionRecord[]> {
    const latest = await this.deps.client.latestVersion(this.model.modelName);
    if (this.model.label !== 'latest') return this.deps.client.listVersions(this.model.modelName);
    if (!latest) throw new SettingError<ModelSetting>('modelLabel', 'AzureMlNoLatestVersion', [this.model.modelName, this.model.workspace]);
    return [await this.deps.client.getVersion(this.model.modelName, latest)];
  }

  /** The version's files as `<version>/<path>`: a single-file model keeps its file name. */
  private async filesOf(record: ModelVersionRecord, signal: AbortSignal): Promise<ListedFile[]> {
    const target = datastorePathOf(record.modelUri);
    if (!target) throw new TaskError('AzureMlModelUriUnsupported', [this.model.modelName, record.version, record.modelUri]);
    const store = await this.blobStoreFor(target.datastore);
    const files: ListedFile[] = [];
    const folder = target.path.endsWith('/') || target.path === '' ? target.path : `${target.path}/`;
    try {
      for await (const inner of store.list(target.path, signal)) {
        const relative = inner.name === target.path ? inner.name.slice(inner.name.lastIndexOf('/') + 1) : inner.name.startsWith(folder) ? inner.name.slice(folder.length) : undefined;
        if (relative) files.push({ object: Object.freeze({ ...inner, name: `${record.version}/${relative}` }), inner, store });
      }
    } catch (error) {
      if (error instanceof SettingError && error.setting === 'storeContainer') throw new TaskError('AzureMlDatastoreContainerMissing', [target.datastore, store.location]);
      throw error;
    }
    return files;
  }

  private blobStoreFor(name: string): Promise<ModelStore> {
    let store = this.datastores.get(name);
    if (!store) {
      store = openWorkspaceDatastore(name, this.deps);
      this.datastores.set(name, store);
    }
    return store;
  }
}

/**
 * A workspace datastore's container as a blob store: with the datastore's own key or SAS (read
 * through listSecrets, registered as secrets), or the connection's identity when it holds none.
 * MLflow's azureml:// artifact URIs are read through it too.
 */
export async function openWorkspaceDatastore(name: string, deps: AzureMlDeps): Promise<ModelStore> {
  const datastore = await deps.client.getDatastore(name);
  if (datastore.datastoreType !== 'AzureBlob' && datastore.datastoreType !== 'AzureDataLakeGen2') {
    throw new TaskError('AzureMlDatastoreUnsupported', [datastore.name, datastore.datastoreType]);
  }
  return openBlobStore(await datastoreAccess(datastore, deps), deps.transport);
}

async function datastoreAccess(datastore: DatastoreRecord, deps: AzureMlDeps): Promise<BlobAccess> {
  const blobEndpoint = blobEndpointOf(datastore);
  if (datastore.credentialsType === 'None') {
    return { kind: 'tokenCredential', blobEndpoint, credential: deps.credential, container: datastore.container };
  }
  if (datastore.credentialsType !== 'AccountKey' && datastore.credentialsType !== 'Sas') {
    throw new TaskError('AzureMlDatastoreCredentialsUnsupported', [datastore.name, datastore.credentialsType]);
  }
  const secret = await deps.client.datastoreSecret(datastore.name);
  if (secret.kind === 'AccountKey') {
    deps.registerSecret(secret.key);
    const connectionString = `DefaultEndpointsProtocol=${datastore.protocol};AccountName=${datastore.accountName};AccountKey=${secret.key};BlobEndpoint=${blobEndpoint}`;
    return { kind: 'connectionString', connectionString, container: datastore.container };
  }
  deps.registerSecret(secret.sasToken);
  return { kind: 'sasUrl', sasUrl: `${blobEndpoint}${encodeURIComponent(datastore.container)}?${secret.sasToken.replace(/^\?/, '')}` };
}

/** The datastore's blob endpoint, as Azure ML builds it: <protocol>://<account>.blob.<endpoint>/ */
export function blobEndpointOf(datastore: Pick<DatastoreRecord, 'protocol' | 'accountName' | 'endpoint'>): string {
  return `${datastore.protocol}://${datastore.accountName}.blob.${datastore.endpoint}/`;
}

/**
 * The datastore and path a model version's modelUri points at. Long and short azureml:// forms are
 * read as written; a job output (azureml://jobs/<job>/outputs/artifacts/paths/<path>) lives where
 * Azure ML keeps run artifacts: workspaceartifactstore, under ExperimentRun/dcid.<job>/.
 */
export function datastorePathOf(modelUri: string): { datastore: string; path: string } | undefined {
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const datastore = /^azureml:\/\/(?:subscriptions\/[^/]+\/resource[gG]roups\/[^/]+\/(?:providers\/Microsoft\.MachineLearningServices\/)?workspaces\/[^/]+\/)?datastores\/([^/]+)\/paths\/(.*)$/i.exec(modelUri);
  if (datastore) return { datastore: datastore[1], path: decode(datastore[2]) };
  const job = /^azureml:\/\/jobs\/([^/]+)\/outputs\/artifacts\/paths\/(.*)$/i.exec(modelUri);
  if (job) return { datastore: 'workspaceartifactstore', path: `ExperimentRun/dcid.${job[1]}/${decode(job[2])}` };
  return undefined;
}
