/**
 * A pipeline artifact as a model store. Azure DevOps serves an artifact only as one zip, so the
 * store resolves the run first (newest successful run on a branch with a tag, or a pinned run id),
 * then, when asked to list, downloads the zip into a scratch folder, unpacks the entries under
 * the model's prefix there (names never become paths: entries are written as numbered files),
 * and lists them as one version folder `<version>/<path>`. Ranged reads then come from the
 * unpacked files, so the downloader's parallel copy, hashing, verification and atomic install
 * apply unchanged.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { formatBytes } from '../bytes';
import { downloadArtifactZip } from '../devops/artifactDownload';
import { buildApi, resolvePipelineArtifact, type ResolvedArtifact, type RunSelection } from '../devops/builds';
import type { DevOpsCredential } from '../devops/credential';
import { SettingError, TaskError } from '../errors';
import type { Lifetime } from '../lifetime';
import type { Log, Progress } from '../log';
import type { Network } from '../net/network';
import type { RetryPolicy } from '../net/retry';
import type { ModelSetting } from './settings';
import type { ModelStore, StoredObject } from './store';
import { parseVersion, versionInName } from './version';
import { extractZipEntry, readZipEntries, type ZipEntry } from './zipArchive';

export interface PipelineArtifactAccess {
  readonly collectionUri: string;
  readonly project: string;
  /** The job's System.AccessToken, or a service connection's PAT; its token is non-enumerable. */
  readonly credential: DevOpsCredential;
  readonly pipeline: string;
  readonly artifactName: string;
  readonly branch?: string;
  readonly runTag?: string;
  readonly run: RunSelection;
  /** Where the model sits inside the artifact, e.g. "model/"; empty for the artifact's root. */
  readonly modelPrefix: string;
  /** A folder of the agent's (Agent.TempDirectory) for the zip and its unpacked files. */
  readonly scratchFolder: string;
  /** For the REST calls and the zip's download. */
  readonly retry: RetryPolicy;
}

export interface StoreContext {
  readonly log: Log;
  readonly progress: Progress;
  readonly network: Network;
  /** Its signal stops every call; its cleanup removes the scratch folder on a cancel. */
  readonly lifetime: Lifetime;
}

/** A text file at the model's root whose first line overrides the run's build number as version. */
export const VERSION_FILE = 'VERSION';

interface UnpackedFile {
  readonly object: StoredObject;
  readonly path: string;
}

export async function openPipelineArtifactStore(access: PipelineArtifactAccess, context: StoreContext): Promise<ModelStore> {
  const api = buildApi(access.collectionUri, access.credential, context.network, context.lifetime.signal);
  const artifact = await resolvePipelineArtifact(api, access, { log: context.log, signal: context.lifetime.signal });
  context.log.info('PipelineRunSelected', artifact.pipelineName, artifact.buildNumber, artifact.runId, access.artifactName);
  return new PipelineArtifactStore(access, artifact, context.lifetime, (target, signal) =>
    downloadArtifactZip(
      { url: artifact.downloadUrl, target, collectionUri: access.collectionUri, credential: access.credential, retry: access.retry, expectedSize: artifact.reportedSize },
      { ...context, signal: AbortSignal.any([signal, context.lifetime.signal]) },
    ));
}

class PipelineArtifactStore implements ModelStore {
  readonly location: string;
  private unpacked?: Promise<Map<string, UnpackedFile>>;
  private scratch?: string;

  constructor(
    private readonly access: PipelineArtifactAccess,
    private readonly artifact: ResolvedArtifact,
    private readonly lifetime: Lifetime,
    private readonly downloadZip: (target: string, signal: AbortSignal) => Promise<number>,
  ) {
    const segments = [artifact.projectName, artifact.pipelineName, String(artifact.runId), access.artifactName].map(encodeURIComponent);
    this.location = `azure-pipelines://${segments.join('/')}`;
  }

  async *list(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject> {
    this.unpacked ??= this.unpack(signal);
    for (const file of (await this.unpacked).values()) if (file.object.name.startsWith(prefix)) yield file.object;
  }

  /** Runs, not files, carry tags here: the run was chosen by its tag before the listing. */
  async *findByTags(): AsyncIterable<string> {
    throw new SettingError<ModelSetting>('modelSelection', 'StoreHasNoTags', [this.location]);
  }

  async readRange(object: StoredObject, offset: number, count: number): Promise<Readable> {
    const file = (await this.unpacked)?.get(object.name);
    if (!file) throw new TaskError('ObjectChanged', [`${this.location}/${object.name}`]);
    return createReadStream(file.path, { start: offset, end: offset + count - 1 });
  }

  uriOf(): string {
    return this.access.modelPrefix ? `${this.location}/${this.access.modelPrefix.replace(/\/+$/, '')}` : this.location;
  }

  async close(): Promise<void> {
    if (this.scratch) await rm(this.scratch, { recursive: true, force: true });
  }

  private async unpack(signal: AbortSignal): Promise<Map<string, UnpackedFile>> {
    this.scratch = await mkdtemp(join(this.access.scratchFolder, 'pipeline-artifact-'));
    this.lifetime.track(this.scratch);
    const zip = join(this.scratch, 'artifact.zip');
    // The size the service reports is checked before a byte is downloaded; the entries' before a byte is unpacked.
    if (this.artifact.reportedSize) await assertRoom('ArtifactTooLargeForDisk', this.artifact.reportedSize, this.scratch, this.location);
    await this.downloadZip(zip, signal);
    const entries = modelEntries(await readZipEntries(zip, this.location), this.access.artifactName, this.access.modelPrefix);
    if (entries.length === 0) throw new TaskError('PipelineArtifactEmpty', [this.location, this.access.modelPrefix || '(the artifact root)']);
    await assertRoom('ZipTooLargeForDisk', entries.reduce((sum, { entry }) => sum + entry.size, 0), this.scratch, this.location);
    const files: { relative: string; entry: ZipEntry; path: string }[] = [];
    for (const [index, { relative, entry }] of entries.entries()) {
      const path = join(this.scratch, `entry-${index}`);
      await extractZipEntry(zip, entry, path, this.location);
      files.push({ relative, entry, path });
    }
    await rm(zip, { force: true });
    const version = await this.versionOf(files);
    return new Map(files.map(({ relative, entry, path }) => {
      const name = `${version}/${relative}`;
      const object = Object.freeze({ name, size: entry.size, etag: `"${this.artifact.runId}-${this.artifact.artifactId}-${entry.crc32.toString(16)}"`, lastModified: this.artifact.finishTime });
      return [name, { object, path }];
    }));
  }

  /** The version file's first line when the model has one; otherwise the version in the build number. */
  private async versionOf(files: readonly { relative: string; path: string }[]): Promise<string> {
    const file = files.find((candidate) => candidate.relative === VERSION_FILE);
    if (file) {
      const text = (await readFile(file.path, 'utf8')).split(/\r?\n/).map((line) => line.trim()).find(Boolean) ?? '';
      if (!parseVersion(text)) throw new TaskError('PipelineVersionFileInvalid', [VERSION_FILE, this.location, text.slice(0, 80)]);
      return text;
    }
    const version = versionInName(this.artifact.buildNumber, { isFile: false });
    if (!version) throw new TaskError('PipelineBuildNumberNoVersion', [this.artifact.buildNumber, this.artifact.runId, VERSION_FILE]);
    return version.raw;
  }
}

/** What will be written (the zip, or what it unpacks to) must fit the free space, checked before a byte is. */
async function assertRoom(key: 'ArtifactTooLargeForDisk' | 'ZipTooLargeForDisk', needed: number, folder: string, location: string): Promise<void> {
  const space = await statfs(folder);
  const free = space.bavail * space.bsize;
  if (needed > free) throw new TaskError(key, [location, formatBytes(needed), folder, formatBytes(free)]);
}

/**
 * The zip's files under modelPrefix, relative to it. Azure DevOps puts an artifact's files in a
 * top folder named after the artifact; that folder is not part of the model.
 */
export function modelEntries(entries: readonly ZipEntry[], artifactName: string, modelPrefix: string): { relative: string; entry: ZipEntry }[] {
  const top = `${artifactName}/`;
  const inTopFolder = entries.length > 0 && entries.every((entry) => entry.name.startsWith(top));
  return entries
    .filter((entry) => !entry.isDirectory)
    .map((entry) => ({ relative: inTopFolder ? entry.name.slice(top.length) : entry.name, entry }))
    .filter(({ relative }) => relative.startsWith(modelPrefix))
    .map(({ relative, entry }) => ({ relative: relative.slice(modelPrefix.length), entry }));
}
