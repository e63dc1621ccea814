/**
 * A registered model of an MLflow tracking server as a model store. The store chooses the version
 * itself: by alias (`@champion`, MLflow 2.9's approval), or among the READY versions with
 * selectModel (highest version number, newest by creation time, tags, pinned). The version's
 * files come from get-download-uri: through the server's artifact proxy (mlflow-artifacts), with
 * an MLflow 3 logged model (models:/m-…) resolved to its artifact location first.
 */
import type { Readable } from 'node:stream';
import { SettingError, TaskError } from '../errors';
import type { AzureMlWorkspaceRef } from './azureMlTracking';
import { datastorePathOf } from './azureMlStore';
import { recordCandidate, type ModelCandidate, type ModelFile } from './layout';
import type { MlflowClient, MlflowModelVersion } from './mlflowClient';
import { selectModel, type SelectionRule } from './select';
import type { ModelSetting } from './settings';
import type { ModelStore, StoredObject } from './store';
import { matchesTagQuery } from './tagQuery';
import { parseVersion } from './version';

export interface MlflowModel {
  readonly trackingUri: string;
  readonly registeredModel: string;
  /** Chooses the version the alias points to, whatever the selection rule. */
  readonly alias?: string;
  /** A bearer token, registered as a secret by the reader. */
  readonly token?: string;
  /** The workspace, when the tracking server is an Azure ML workspace's MLflow endpoint. */
  readonly azureMlWorkspace?: AzureMlWorkspaceRef;
}

/** Files listed at most, so a hostile server cannot make the agent list forever. */
const MAX_FILES = 100_000;

/** Opens the store an artifact URI points into, reusing Fetch's own stores. */
export interface ArtifactStores {
  /** For s3://bucket/... URIs, when the task was given AWS credentials. */
  readonly openS3?: (bucket: string) => Promise<ModelStore>;
  /** For Blob Storage URLs the task has a credential for (a connection string of that account, or an AzureRM connection): the container's store and the prefix in it. */
  readonly openBlob?: (url: string) => Promise<StoreAt | undefined>;
  /** For Azure ML datastore URIs (azureml://…/datastores/<name>/paths/<path>), when the task has an AzureRM connection. */
  readonly openDatastore?: (uri: string) => Promise<StoreAt>;
}

export interface StoreAt {
  readonly store: ModelStore;
  readonly prefix: string;
}

type ArtifactSource = { readonly kind: 'proxy'; readonly path: string } | { readonly kind: 'store'; readonly store: ModelStore; readonly object: StoredObject };

export class MlflowModelStore implements ModelStore {
  readonly location: string;
  private readonly artifacts = new Map<string, ArtifactSource>();
  private uri = '';

  constructor(
    private readonly model: MlflowModel,
    private readonly client: MlflowClient,
    private readonly stores: ArtifactStores = {},
  ) {
    this.location = `${client.location}#/models/${encodeURIComponent(model.registeredModel)}`;
  }

  async chooseModel(rule: SelectionRule, includePrereleases: boolean, signal: AbortSignal): Promise<ModelCandidate> {
    const name = this.model.registeredModel;
    if (this.model.alias) {
      const version = await this.client.versionByAlias(name, this.model.alias);
      if (!version) throw new SettingError<ModelSetting>('modelLabel', 'MlflowAliasNotFound', [name, this.model.alias, this.client.location]);
      return this.candidateOf(version, signal);
    }
    if (rule.kind === 'pinned') {
      const version = await this.client.version(name, rule.version.trim());
      if (version) return this.candidateOf(version, signal);
    }
    const versions = await this.client.versions(name);
    if (!versions) throw new SettingError<'modelName'>('modelName', 'MlflowModelNotFound', [this.client.location, name]);
    const ready = versions.filter((version) => (version.status ?? 'READY') === 'READY');
    const light = ready.flatMap((version) => {
      const parsed = parseVersion(String(version.version));
      return parsed ? [recordCandidate(parsed, `${version.version}/`, new Date(version.creation_timestamp ?? 0))] : [];
    });
    const tagMatches = rule.kind === 'tagQuery' ? new Set(ready.filter((version) => matchesTagQuery(rule.query, tagsOf(version), name)).map((version) => `${version.version}/`)) : undefined;
    const chosen = selectModel(light, rule, { location: this.location, prefix: '', tagMatches, ignored: [], includePrereleases });
    return this.candidateOf(ready.find((version) => `${version.version}/` === chosen.name)!, signal);
  }

  private async candidateOf(version: MlflowModelVersion, signal: AbortSignal): Promise<ModelCandidate> {
    const parsed = parseVersion(String(version.version)) ?? { raw: String(version.version), release: [], prerelease: [] };
    const root = await this.artifactRoot(version);
    const lastModified = new Date(version.creation_timestamp ?? 0);
    const files: ModelFile[] = [];
    const add = (path: string, object: Omit<StoredObject, 'name'>, source: ArtifactSource) => {
      const name = `${version.version}/${path}`;
      this.artifacts.set(name, source);
      files.push({ relativePath: path, object: { ...object, name } });
    };
    if (root.kind === 'store') {
      // The underlying store's own digests (sha256 metadata, Content-MD5) come along, and are checked.
      for await (const object of root.store.list(root.prefix, signal)) {
        if (object.name.startsWith(root.prefix)) add(object.name.slice(root.prefix.length), object, { kind: 'store', store: root.store, object });
      }
    } else {
      for (const { path, size } of await this.walk(root.path)) add(path, { size, etag: `"${version.version}-${path}-${size}"`, lastModified }, { kind: 'proxy', path: root.path ? `${root.path}/${path}` : path });
    }
    if (files.length === 0) throw new TaskError('MlflowVersionEmpty', [version.version, this.model.registeredModel, this.uri]);
    return { version: parsed, layout: 'folder', name: `${version.version}/`, files, lastModified, size: files.reduce((sum, file) => sum + file.object.size, 0) };
  }

  /** Where the version's files are: a path in the artifact proxy, or a prefix in S3 (get-download-uri, a logged model resolved first). */
  private async artifactRoot(version: MlflowModelVersion): Promise<{ kind: 'proxy'; path: string } | { kind: 'store'; store: ModelStore; prefix: string }> {
    let uri = await this.client.downloadUri(this.model.registeredModel, String(version.version));
    const logged = /^models:\/(m-[A-Za-z0-9]+)\/?$/.exec(uri);
    if (logged) {
      const resolved = await this.client.loggedModelArtifacts(logged[1]);
      if (!resolved) throw new TaskError('MlflowLoggedModelUnresolved', [version.version, this.model.registeredModel, uri]);
      uri = resolved;
    }
    this.uri = uri;
    const proxied = /^mlflow-artifacts:(?:\/\/[^/]+)?\/(.*)$/.exec(uri);
    if (proxied) return { kind: 'proxy', path: proxied[1].replace(/\/+$/, '') };
    const s3 = /^s3a?:\/\/([^/?#]+)\/([^?#]*)$/.exec(uri);
    if (s3 && this.stores.openS3) return { kind: 'store', store: await this.stores.openS3(s3[1]), prefix: `${s3[2].replace(/\/+$/, '')}/` };
    const [number, name, shown] = [version.version, this.model.registeredModel, uri.split('?')[0]];
    if (s3) throw new TaskError('MlflowS3NeedsCredentials', [number, name, shown]);
    if (/^azureml:\/\//i.test(uri) && datastorePathOf(uri)) {
      if (!this.stores.openDatastore) throw new SettingError<'storeConnection'>('storeConnection', 'MlflowDatastoreNeedsConnection', [number, name, shown]);
      return { kind: 'store', ...(await this.stores.openDatastore(uri)) };
    }
    const blob = blobUrlOf(uri);
    const inAccount = blob && this.stores.openBlob ? await this.stores.openBlob(blob) : undefined;
    if (inAccount) return { kind: 'store', ...inAccount };
    if (blob && azureBlobOf(blob)) throw new SettingError<'storeConnection'>('storeConnection', 'MlflowBlobNeedsCredentials', [number, name, blob]);
    throw new TaskError('MlflowArtifactStoreUnsupported', [number, name, shown]);
  }

  /** Every file under the folder, with its path relative to it; '..' or absolute paths from the server are refused later, by fetch. */
  private async walk(root: string): Promise<{ path: string; size: number }[]> {
    const files: { path: string; size: number }[] = [];
    const folders = [''];
    while (folders.length > 0) {
      const folder = folders.shift()!;
      for (const entry of await this.client.listArtifacts(root && folder ? `${root}/${folder}` : root || folder)) {
        const base = String(entry.path).split('/').pop() ?? '';
        const relative = folder ? `${folder}/${base}` : base;
        if (entry.is_dir) folders.push(relative);
        else files.push({ path: relative, size: Number(entry.file_size ?? 0) });
        if (files.length > MAX_FILES) throw new TaskError('MlflowTooManyFiles', [this.uri, MAX_FILES]);
      }
    }
    return files;
  }

  async *list(): AsyncIterable<StoredObject> {
    // The store chooses (chooseModel); nothing is listed by prefix.
  }

  async *findByTags(): AsyncIterable<string> {
    // Version tags answer a tag query inside chooseModel.
  }

  async readRange(object: StoredObject, offset: number, count: number, signal: AbortSignal): Promise<Readable> {
    const source = this.artifacts.get(object.name);
    if (source === undefined) throw new TaskError('ObjectChanged', [`${this.location}/${object.name}`]);
    if (source.kind === 'store') return source.store.readRange(source.object, offset, count, signal);
    return this.client.openArtifact(source.path, offset, count);
  }

  uriOf(name: string): string {
    return `models:/${this.model.registeredModel}/${name.replace(/\/$/, '')}`;
  }
}

function tagsOf(version: MlflowModelVersion): Record<string, string> {
  return Object.fromEntries((version.tags ?? []).filter((tag) => typeof tag?.key === 'string' && typeof tag?.value === 'string').map((tag) => [tag.key, tag.value]));
}

/** A Blob Storage artifact URI as an https URL: wasbs://container@account.blob.../path becomes https://account.blob.../container/path. */
export function blobUrlOf(uri: string): string | undefined {
  // A query (a SAS the server put in) is dropped: the task's own credential signs the requests.
  const wasbs = /^(?:wasbs?|abfss?):\/\/([^@/]+)@([^/?#]+)\/?([^?#]*)$/.exec(uri.split(/[?#]/)[0]);
  if (wasbs) return `https://${wasbs[2].replace('.dfs.', '.blob.')}/${wasbs[1]}/${wasbs[3]}`.replace(/\/+$/, '');
  return /^https?:\/\//.test(uri) ? uri.split(/[?#]/)[0].replace(/\/+$/, '') : undefined;
}

/**
 * The account, endpoint, container and path of a URL on an Azure Blob Storage host
 * (<account>.blob.<cloud suffix>, or .dfs.). Only such hosts get the connection's Entra token: the
 * URL comes from the tracking server, which must not be able to send it anywhere else.
 */
export function azureBlobOf(url: string): { endpoint: string; container: string; path: string } | undefined {
  const match = /^https:\/\/([a-z0-9]{3,24})\.(?:blob|dfs)\.(core\.windows\.net|core\.chinacloudapi\.cn|core\.usgovcloudapi\.net)(?::443)?\/([^/?#]+)\/?([^?#]*)$/i.exec(url);
  if (!match) return undefined;
  return { endpoint: `https://${match[1].toLowerCase()}.blob.${match[2].toLowerCase()}/`, container: decodeURIComponent(match[3]), path: decodeURIComponent(match[4]).replace(/\/+$/, '') };
}

/** Where a connection string's account serves blobs: its BlobEndpoint, or https://<account>.blob.<suffix>. */
export function blobEndpointOf(connectionString: string): string | undefined {
  const parts = Object.fromEntries(connectionString.split(';').filter(Boolean).map((part) => [part.slice(0, part.indexOf('=')).toLowerCase(), part.slice(part.indexOf('=') + 1)]));
  if (parts.blobendpoint) return parts.blobendpoint.replace(/\/+$/, '');
  if (!parts.accountname) return undefined;
  return `${parts.defaultendpointsprotocol ?? 'https'}://${parts.accountname}.blob.${parts.endpointsuffix ?? 'core.windows.net'}`;
}
