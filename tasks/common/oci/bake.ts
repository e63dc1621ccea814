/**
 * Bake Model Into Image, appendLayer mode: base image + model layers -> pushed image, with no
 * daemon. Reads the model first (bad input fails before any network), then the base image, then
 * pushes only what the registry lacks. Tags are written last, so a failure never moves a tag.
 */
import { setMaxListeners } from 'node:events';
import { SettingError } from '../errors';
import { withDeadline, type Lifetime } from '../lifetime';
import type { Log, Progress } from '../log';
import type { Network } from '../net/network';
import type { RetryPolicy } from '../net/retry';
import { recallModelLayers, rememberModelLayers, type MemoContext } from './bakeMemo';
import { uploadModelLayers, type ModelUploadContext } from './modelUpload';
import { bakeModelIntoImage, type ModelBake } from './modelImage';
import { Provenance } from '../provenance';
import { planModelLayers, type Compression, type LayerPlan } from './modelLayers';
import { readModelEntries, type ModelEntry, type ModelFilesSetting } from './modelFiles';
import { push } from './push';
import { formatReference, repositoryName, type ImageReference } from './reference';
import type { RegistryCredential } from './registry/auth';
import { explainRegistryFailure, RegistryClient } from './registry/client';
import { readBaseImage } from './remoteImage';
import type { Layer } from './layer';
import { attestPushed, beginAttestation, fileDigestsWanted, type AttestationResult, type AttestationStart, type LearntDigests, type ProvenanceSettings } from '../attest/attest';
import { modelMountScope, mountableModel, zeroCopyLayers } from './mountModel';

export interface RegistrySettings {
  readonly credential: RegistryCredential;
  readonly insecure: boolean;
  /** Every request, token and upload retries under it. */
  readonly retryPolicy: RetryPolicy;
  readonly chunkSize: number;
  readonly concurrency: number;
  /** Extra CA certificates (PEM) to trust besides the agent's. */
  readonly ca?: string;
}

/** What both modes share: where the result goes and which model it holds. */
export interface BakeTarget {
  /** Target repository (no tag or digest). */
  readonly target: ImageReference;
  readonly tags: readonly string[];
  readonly modelPath: string;
  readonly bake: Omit<ModelBake, 'baseName'>;
  readonly registry: RegistrySettings;
  /** The whole run, retries included; past it the bake stops and says so. */
  readonly timeoutMs: number;
  /** The signed (or unsigned) provenance attestation to attach; undefined when it is off. */
  readonly provenance?: ProvenanceSettings;
}

export interface BakeOptions extends BakeTarget {
  readonly baseImage: ImageReference;
  readonly compression: Compression;
  /** Seconds since the epoch for every file in the model layers (SOURCE_DATE_EPOCH, else 0). */
  readonly mtime: number;
  /** Fetch's modelUri: an OCI artifact in the target registry is mounted instead of uploaded (mountModel.ts). */
  readonly modelUri?: string;
}

/**
 * The settings a bake's failure may name (SettingError), in the core's terms; the task's input
 * reader knows which input carries each. The Dockerfile builder adds its own (dockerfile/).
 */
export type BakeSetting = ModelFilesSetting | 'timeout';

/** What every bake gives, whichever way it built the image. */
export interface BakedImage {
  /** repository@digest, as Deploy takes it. */
  readonly imageRef: string;
  readonly digest: string;
  readonly tags: readonly string[];
  readonly modelLayerDigests: readonly string[];
  /** Set when a provenance attestation was attached. */
  readonly attestation?: AttestationResult;
}

/** appendLayer mode built every manifest itself, so it knows the base, the platforms and each byte it sent. */
export interface AppendLayerResult extends BakedImage {
  readonly mode: 'appendLayer';
  readonly mediaType: string;
  readonly baseDigest: string;
  /** os/architecture of every image baked, one per platform of the base. */
  readonly platforms: readonly string[];
  readonly bytesUploaded: number;
  readonly bytesReused: number;
}

export interface BakeContext {
  readonly log: Log;
  readonly progress: Progress;
  readonly network: Network;
  /** The agent's cancel, and the paths to remove however the task ends (a login file, a staged model). */
  readonly lifetime: Lifetime;
  /** Registers a token the moment it is issued, so it can never be printed. */
  readonly onSecret: (value: string) => void;
}

/** A registry client of this run: the task's network, signal, log and secrets. */
export function registryClient(registry: string, scopes: readonly string[], settings: RegistrySettings, credential: RegistryCredential, context: BakeContext, signal: AbortSignal): RegistryClient {
  const { network, log, onSecret } = context;
  return new RegistryClient(registry, { ...settings, credential, scopes, network, signal, log, onSecret });
}

/** Runs a bake under its overall deadline; a deadline that passes becomes one message naming the time limit. */
export async function withinDeadline<T>(timeoutMs: number, context: BakeContext, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = withDeadline(context.lifetime.signal, timeoutMs, 'the bake');
  // Every concurrent request, body and pause of the bake listens to this one signal.
  setMaxListeners(256, signal);
  try {
    return await work(signal);
  } catch (error) {
    if (signal.aborted && !context.lifetime.signal.aborted) throw new SettingError<BakeSetting>('timeout', 'BakeTimedOut', [Math.round(timeoutMs / 1000)], { cause: error });
    throw error;
  }
}

/** The clients of a bake: the target's with the connection's credentials; a base in another registry read anonymously. */
function clientsFor(options: BakeOptions, context: BakeContext, signal: AbortSignal): { base: RegistryClient; target: RegistryClient } {
  const { baseImage, target, registry: settings } = options;
  const sameRegistry = baseImage.registry === target.registry;
  const scopes = [`repository:${target.repository}:pull,push`];
  if (sameRegistry && baseImage.repository !== target.repository) scopes.push(`repository:${baseImage.repository}:pull`);
  const modelScope = modelMountScope(options.modelUri, target);
  if (modelScope) scopes.push(modelScope);
  const targetClient = registryClient(target.registry, scopes, settings, settings.credential, context, signal);
  // The service connection belongs to the target: its credentials never go to another registry.
  const baseClient = sameRegistry ? targetClient : registryClient(baseImage.registry, [`repository:${baseImage.repository}:pull`], settings, { kind: 'anonymous' }, context, signal);
  return { base: baseClient, target: targetClient };
}

/** The model's regular files, the ones the attestation lists. */
function regularFiles(entries: readonly ModelEntry[]): ModelEntry[] {
  return entries.filter((entry) => entry.type === 'file' && entry.source);
}

/**
 * The model layers: an earlier bake's, from its memo, when that holds up; else new ones uploaded
 * as they are hashed (and compressed, with gzip), in one read of the model. With them, the model
 * files' digests that the memo kept or that read gave (by path inside the model), for the attestation.
 */
async function modelLayers(entries: readonly ModelEntry[], plans: readonly LayerPlan[], options: BakeOptions, memo: MemoContext, upload: Omit<ModelUploadContext, 'client' | 'repository'>) {
  const layerOptions = { mtime: options.mtime, compression: options.compression };
  const described = (layers: readonly Layer[]) => layers.map((layer, index) => ({ layer, description: plans[index].description }));
  const files = regularFiles(entries);
  const recalled = await recallModelLayers({ digest: options.bake.modelDigest, path: options.modelPath, files: files.map((file) => file.relativePath) }, plans, layerOptions, memo);
  if (recalled) return { layers: described(recalled.layers), recalled: true, uploaded: 0, files: recalled.files };
  const { layers, uploaded, files: bySource } = await uploadModelLayers(plans, layerOptions, { ...memo, ...upload });
  const learnt = new Map(files.flatMap((file) => (bySource.has(file.source!) ? [[file.relativePath, bySource.get(file.source!)!] as const] : [])));
  return { layers: described(layers), recalled: false, uploaded, files: learnt };
}

/** The files' digests the attestation lists, for the memo; none when provenance is off or the files could not be hashed (the attestation then fails saying why). */
async function attestedFiles(attesting: AttestationStart | undefined): Promise<LearntDigests | undefined> {
  const files = await attesting?.files.catch(() => undefined);
  return files && new Map(files.map((file) => [file.path, file.digest.replace(/^sha256:/, '')]));
}

/** A rejection handler that turns a registry failure into its message. */
export function explainedBy(registry: string): (error: unknown) => never {
  return (error) => {
    throw explainRegistryFailure(error, registry);
  };
}

export function bakeModel(options: BakeOptions, context: BakeContext): Promise<AppendLayerResult> {
  return withinDeadline(options.timeoutMs, context, (signal) => bakeUntil(signal, options, context));
}

async function bakeUntil(signal: AbortSignal, options: BakeOptions, context: BakeContext): Promise<AppendLayerResult> {
  const { baseImage, target, registry: settings } = options;
  const clients = clientsFor(options, context, signal);
  const mounted = options.modelUri ? zeroCopyLayers(await mountableModel(options.modelUri, target, options.bake.modelDirectory, clients.target).catch(explainedBy(target.registry)), context.log) : undefined;
  // The attestation takes the file digests the bake's own read learns, and hashes only the rest.
  let learnt: (files: LearntDigests | undefined) => void = () => undefined;
  const attesting = beginAttestation({ provenance: options.provenance, modelPath: mounted ? undefined : options.modelPath, learnt: new Promise((resolve) => (learnt = resolve)) });
  // The model first: bad input fails before any network (a model to mount is never read from disk).
  const entries = mounted ? [] : await readModelEntries(options.modelPath);
  const plans = mounted ? [] : planModelLayers(entries, options.bake.modelDirectory);
  const base = await readBaseImage(clients.base, baseImage).catch(explainedBy(baseImage.registry));
  for (const skipped of base.skipped) context.log.info('IndexEntrySkipped', skipped.digest, skipped.platform ? `${skipped.platform.os}/${skipped.platform.architecture}` : 'no platform');
  const memo: MemoContext = { client: clients.target, repository: target.repository, log: context.log };
  const pushing = { concurrency: settings.concurrency, chunkSize: settings.chunkSize, log: context.log, progress: context.progress };
  // A mounted model is neither uploaded nor remembered: the registry already holds its layers.
  const { layers, recalled, uploaded, files } = mounted
    ? { layers: mounted, recalled: true, uploaded: 0, files: undefined }
    : await modelLayers(entries, plans, options, memo, { ...pushing, hashFiles: attesting !== undefined && (await fileDigestsWanted(attesting, regularFiles(entries).map((file) => file.relativePath))) }).catch(explainedBy(target.registry));
  learnt(files);
  const bake: ModelBake = { ...options.bake, baseName: formatReference(baseImage) };
  const images = base.platforms.map(({ image, baseDigest }) => bakeModelIntoImage(image, baseDigest, layers, bake));
  const index = { annotations: { [Provenance.baseName]: bake.baseName, [Provenance.baseDigest]: base.digest } };
  const pushed = await push(
    clients.target,
    { repository: target.repository, images, tags: options.tags, ...(base.isIndex ? { index } : {}) },
    pushing,
  ).catch(explainedBy(target.registry));
  if (!recalled) await rememberModelLayers(options.bake.modelDigest, plans, options, layers.map(({ layer }) => layer), await attestedFiles(attesting), memo);
  const attestation = await attestPushed(clients.target, options, pushed.digest, attesting, context.log).catch(explainedBy(target.registry));
  return {
    mode: 'appendLayer',
    ...(attestation ? { attestation } : {}),
    imageRef: `${repositoryName(target)}@${pushed.digest}`,
    digest: pushed.digest,
    mediaType: pushed.mediaType,
    tags: options.tags,
    modelLayerDigests: layers.map(({ layer }) => layer.digest),
    bytesUploaded: pushed.bytesUploaded + uploaded,
    bytesReused: pushed.bytesReused,
    baseDigest: base.digest,
    platforms: base.platforms.map(({ image }) => (image.platform ? `${image.platform.os}/${image.platform.architecture}` : `${image.config.os ?? 'linux'}/${image.config.architecture ?? 'amd64'}`)),
  };
}
