import { join } from 'node:path';
import { formatBytes } from '../bytes';
import { TaskError } from '../errors';
import { type Lifetime, withDeadline } from '../lifetime';
import type { Log, Progress } from '../log';
import { StoppedError } from '../net/errors';
import type { Network } from '../net/network';
import { ModelCache, type CachedFile } from './cache';
import { modelDigest } from './digest';
import { downloadFiles, type DownloadSettings } from './download';
import { assertRoomFor, createStaging, discardStaging, installedModel, previousInstall, promoteStaging } from './install';
import { baseName, groupByVersion, type ModelCandidate } from './layout';
import { assertDistinctPaths, assertSafeName, safeRelativePath } from './paths';
import { selectModel, type SelectionRule } from './select';
import type { ModelStore, StoredObject } from './store';
import { nameWithoutVersion } from './version';
import { verifyDownload } from './verify';

export interface FetchOptions {
  readonly prefix: string;
  readonly rule: SelectionRule;
  /** Whether a pre-release may be chosen by a rule other than pinned. */
  readonly includePrereleases: boolean;
  readonly destination: string;
  readonly verifyIntegrity: boolean;
  readonly cacheDirectory?: string;
  readonly download: Omit<DownloadSettings, 'md5'>;
  readonly timeoutMs: number;
}

export interface FetchedModel {
  readonly path: string;
  readonly name: string;
  readonly version: string;
  readonly digest: string;
  readonly uri: string;
  readonly size: number;
  readonly files: number;
  readonly layout: 'folder' | 'file';
  readonly source: string;
  readonly fromCache: boolean;
  /** Whether a digest published with the model (Content-MD5 or sha256 metadata) was checked. */
  readonly verified: boolean;
}

export interface FetchContext {
  readonly log: Log;
  readonly progress: Progress;
  readonly network: Network;
  /** The agent's cancel, and the paths to remove however the task ends. */
  readonly lifetime: Lifetime;
}

interface ModelFileToFetch {
  readonly object: StoredObject;
  readonly relativePath: string;
}

/**
 * Finds the version the rule asks for and installs exactly its files, verified, at the destination.
 * timeoutSeconds bounds the whole of it (listing, download, install), and the agent's cancel
 * reaches every step.
 */
export async function fetchLatestModel(store: ModelStore, options: FetchOptions, context: FetchContext): Promise<FetchedModel> {
  const signal = withDeadline(context.lifetime.signal, options.timeoutMs, 'the fetch');
  try {
    return await fetchWithin(store, options, context, signal);
  } catch (error) {
    // One place for the overall timeout, whichever step it cut short; a cancel stays a cancel.
    const reason: unknown = signal.reason;
    if (signal.aborted && reason instanceof StoppedError && reason.reason === 'deadline') throw new TaskError('DownloadTimedOut', [options.timeoutMs / 1000], { cause: error });
    throw error;
  }
}

async function fetchWithin(store: ModelStore, options: FetchOptions, context: FetchContext, signal: AbortSignal): Promise<FetchedModel> {
  const previous = await previousInstall(options.destination);
  const chosen = store.chooseModel ? await store.chooseModel(options.rule, options.includePrereleases, signal) : await chooseModel(store, options, signal, context.log);
  // Names from the store reach the disk, the log and the outputs: all of them are checked first.
  assertSafeName(chosen.name);
  const files = chosen.files.map((file) => ({ object: file.object, relativePath: safeRelativePath(file.relativePath, file.object.name) }));
  assertDistinctPaths(files.map((file) => file.relativePath));
  const uri = store.uriOf(chosen.name);
  context.log.info('ModelSelected', chosen.version.raw, uri, files.length, formatBytes(chosen.size));
  const result = (stored: readonly CachedFile[], fromCache: boolean) => describeFetched({ store, chosen, files, uri, stored, fromCache }, options);
  // With a cache, a destination that still holds exactly this verified model is the fastest hit of all.
  const wanted = wantedFiles(files);
  const installed = options.cacheDirectory ? await installedModel(options.destination, previous, uri, wanted, context.log) : undefined;
  if (installed) {
    context.log.info('DestinationCurrent', options.destination);
    return result(installed, true);
  }
  await assertRoomFor(options.destination, chosen.size);

  const staging = await createStaging(options.destination, context);
  try {
    const { stored, fromCache } = await stage(store, files, uri, staging.path, options, signal, context);
    signal.throwIfAborted();
    await promoteStaging(staging, options.destination, { uri, files: stored }, previous);
    return result(stored, fromCache);
  } catch (error) {
    await discardStaging(staging);
    throw error;
  }
}

function describeFetched(
  fetched: { store: ModelStore; chosen: ModelCandidate; files: readonly ModelFileToFetch[]; uri: string; stored: readonly CachedFile[]; fromCache: boolean },
  options: FetchOptions,
): FetchedModel {
  const { store, chosen, files } = fetched;
  return Object.freeze({
    path: options.destination,
    name: modelNameOf(chosen, options.prefix, store.location),
    version: chosen.version.raw,
    digest: modelDigest(fetched.stored, chosen.layout),
    uri: fetched.uri,
    size: chosen.size,
    files: files.length,
    layout: chosen.layout,
    source: store.location,
    fromCache: fetched.fromCache,
    verified: options.verifyIntegrity && files.some((file) => file.object.contentMd5 || file.object.sha256Metadata),
  });
}

/** Fills the staging folder from the cache when it holds this model untouched, else from the store. */
async function stage(store: ModelStore, files: readonly ModelFileToFetch[], uri: string, staging: string, options: FetchOptions, signal: AbortSignal, context: FetchContext) {
  const cache = options.cacheDirectory ? new ModelCache(options.cacheDirectory, context.log) : undefined;
  const cached = await cache?.lookup(uri, wantedFiles(files));
  if (cache && cached) {
    context.log.info('CacheHit', options.cacheDirectory);
    await cache.restore(uri, cached, staging);
    return { stored: cached, fromCache: true };
  }
  const stored = await downloadVerified(store, files, staging, options, signal, context);
  await cache?.save(uri, stored, staging);
  return { stored, fromCache: false };
}

function wantedFiles(files: readonly ModelFileToFetch[]): Omit<CachedFile, 'sha256'>[] {
  return files.map((file) => ({ relativePath: file.relativePath, etag: file.object.etag, size: file.object.size }));
}

async function chooseModel(store: ModelStore, options: FetchOptions, signal: AbortSignal, log: Log): Promise<ModelCandidate> {
  const objects: StoredObject[] = [];
  for await (const object of store.list(options.prefix, signal)) {
    // A size is spent on disk and in memory: it has to be a byte count before anything trusts it.
    if (!Number.isSafeInteger(object.size) || object.size < 0) throw new TaskError('ObjectSizeInvalid', [store.location, object.size, object.name]);
    objects.push(object);
  }
  const listing = groupByVersion(options.prefix, objects);
  log.debug(`found ${listing.candidates.length} versions and ${listing.ignored.length} unversioned names under '${options.prefix}'`);
  let tagMatches: Set<string> | undefined;
  if (options.rule.kind === 'tagQuery') {
    tagMatches = new Set<string>();
    for await (const name of store.findByTags(options.rule.query, options.prefix, signal)) tagMatches.add(name);
  }
  return selectModel(listing.candidates, options.rule, { location: store.location, prefix: options.prefix, tagMatches, ignored: listing.ignored, includePrereleases: options.includePrereleases });
}

async function downloadVerified(
  store: ModelStore,
  files: readonly ModelFileToFetch[],
  staging: string,
  options: FetchOptions,
  signal: AbortSignal,
  context: FetchContext,
): Promise<CachedFile[]> {
  const total = files.reduce((sum, file) => sum + file.object.size, 0);
  context.progress.start(`Downloading ${files.length === 1 ? baseName(files[0].object.name) : `${files.length} files`}`, total);
  const targets = files.map((file) => ({ object: file.object, path: join(staging, file.relativePath) }));
  const settings = { ...options.download, md5: options.verifyIntegrity };
  const downloaded = await downloadFiles(store, targets, settings, { signal, log: context.log, progress: context.progress });
  context.progress.finish();
  return files.map((file, index) => {
    verifyDownload(file.object, downloaded[index], options.verifyIntegrity);
    return { relativePath: file.relativePath, etag: file.object.etag, size: file.object.size, sha256: downloaded[index].sha256 };
  });
}

/** "churn/" -> "churn"; "churn/model-1.4.0.onnx" -> "model"; falls back to the container's name. */
function modelNameOf(chosen: ModelCandidate, prefix: string, location: string): string {
  if (chosen.layout === 'file') {
    const fromFile = nameWithoutVersion(baseName(chosen.name), chosen.version);
    if (fromFile) return fromFile;
  }
  const fromPrefix = prefix.split('/').filter(Boolean).pop()?.replace(/[-_@]$/, '');
  return fromPrefix || baseName(location);
}
