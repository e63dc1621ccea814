/**
 * The memo of a bake: which layer digests a model's files became, kept in the target repository
 * so that a re-bake of the same model on any agent (ephemeral hosted ones included) skips reading
 * and hashing it. The memo is a small OCI artifact tagged by the model's digest; its layers are the
 * model layers themselves (so the registry keeps them while the memo exists), and it records a key
 * of everything else the layers depend on: the file list with sizes and modes, where the model goes
 * in the image, the layer split, the mtime and the compression. Its config holds each model file's
 * sha256 where the bake knew them (memoFiles.ts), so a re-bake's attestation reads no file either.
 *
 * A memo is used only when its key matches, the registry holds every layer at the recorded size,
 * and each layer's blob starts with the bytes this model's tar starts with (a few KiB read from the
 * registry and from disk), and, when it lists file digests, only when they make the model digest.
 * Anything else is a full bake, and the log says why.
 */
import { createHash } from 'node:crypto';
import { constants, createGunzip } from 'node:zlib';
import { TaskError } from '../errors';
import type { Log } from '../log';
import type { MessageKey } from '../messages';
import { modelDigest } from '../model/digest';
import { installRecord } from '../model/install';
import { isContentDigest } from './digest';
import { blobOf, type Blob } from './image';
import type { Layer } from './layer';
import { MediaType } from './mediaTypes';
import { knownModelLayer, tarPrefix, tarSize, type LayerDigests, type LayerOptions, type LayerPlan } from './modelLayers';
import type { RegistryClient } from './registry/client';
import { uploadSmallBlob } from './registry/upload';
import { EMPTY_CONFIG, makesModel, memoConfig, memoFileDigests, MEMO_FILES_MEDIA_TYPE, type FileDigests } from './memoFiles';

export const MEMO_ARTIFACT_TYPE = 'application/vnd.ai-model-bake.memo.v1';
const KEY_ANNOTATION = 'ai.model.bake.key';
const DIGEST_ANNOTATION = 'ai.model.digest';
const DIFF_ID_ANNOTATION = 'ai.model.bake.diffid';
/** How much of each layer's start is compared: tar headers and the first bytes of the first file. */
const PREFIX_BYTES = 32 * 1024;

/** Where a model's memo lives: `bakememo-sha256-<hex>` in the target repository. */
export function memoTag(model: string): string {
  return `bakememo-${model.replace(':', '-')}`;
}

/** Everything besides the model's bytes that the layer digests depend on. */
export function memoKey(plans: readonly LayerPlan[], options: LayerOptions): string {
  const layers = plans.map((plan) => plan.entries.map((entry) => [entry.path, entry.type, entry.mode, entry.size, entry.linkTarget ?? '']));
  const text = JSON.stringify({ memo: 1, mtime: options.mtime, compression: options.compression, layers });
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The memo artifact's manifest: the model layers, each with its diffId, the model digest and key, and its config (the file digests). */
export function memoManifest(model: string, key: string, layers: readonly LayerDigests[], config: Blob = EMPTY_CONFIG): Blob {
  return blobOf(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: MEMO_ARTIFACT_TYPE,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size, annotations: { [DIFF_ID_ANNOTATION]: layer.diffId } })),
    annotations: { [DIGEST_ANNOTATION]: model, [KEY_ANNOTATION]: key },
  });
}

/** Why a memo is not used, as a message key and its arguments after the model digest and repository. */
type Miss = { readonly key: MessageKey; readonly args: readonly unknown[] };

const tampered = (what: string): Miss => ({ key: 'BakeMemoTampered', args: [what] });

/** A memo manifest read back from the registry, or why it cannot be one. */
function parseMemo(bytes: Buffer, model: string): { key: string; layers: LayerDigests[]; config: unknown } | Miss {
  let json: { artifactType?: unknown; layers?: unknown; config?: unknown; annotations?: Record<string, unknown> };
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return tampered('it is not JSON');
  }
  if (json.artifactType !== MEMO_ARTIFACT_TYPE || !Array.isArray(json.layers)) return tampered('it is not a bake memo');
  if (json.annotations?.[DIGEST_ANNOTATION] !== model) return tampered('it names another model');
  const key = json.annotations?.[KEY_ANNOTATION];
  const layers = (json.layers as Record<string, unknown>[]).map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId: (layer.annotations as Record<string, unknown> | undefined)?.[DIFF_ID_ANNOTATION] }));
  const valid = (layer: (typeof layers)[number]): layer is LayerDigests =>
    (layer.mediaType === MediaType.ociLayer || layer.mediaType === MediaType.ociLayerGzip) && isContentDigest(layer.digest) && isContentDigest(layer.diffId) && Number.isSafeInteger(layer.size) && (layer.size as number) >= 0;
  if (typeof key !== 'string' || !layers.every(valid)) return tampered('a layer or its key is malformed');
  return { key, layers, config: json.config };
}


/** The memo's file digests: none in an older memo's empty config, else read and checked against the model digest. */
async function filesOf(config: unknown, model: string, modelFiles: readonly string[], context: MemoContext): Promise<{ files?: FileDigests } | Miss> {
  const { mediaType, digest } = (config ?? {}) as { mediaType?: unknown; digest?: unknown };
  if (mediaType === EMPTY_CONFIG.mediaType) return {};
  if (mediaType !== MEMO_FILES_MEDIA_TYPE || !isContentDigest(digest)) return tampered('its config is not a list of file digests');
  const bytes = await context.client.readConfig(context.repository, digest, `${context.client.registry}/${context.repository}:${memoTag(model)}`);
  const files = memoFileDigests(bytes, model, modelFiles);
  return 'why' in files ? tampered(files.why) : files;
}

export interface MemoContext {
  readonly client: RegistryClient;
  readonly repository: string;
  readonly log: Log;
}

/** The model a memo is for: its digest (the user's), its folder, and its files' paths inside it. */
export interface MemoModel {
  readonly digest: string | undefined;
  readonly path: string;
  readonly files: readonly string[];
}

/** What a memo gives: the layers, and the file digests when it kept them (checked against the model digest). */
export interface RecalledModel {
  readonly layers: Layer[];
  readonly files?: FileDigests;
}

/**
 * The model layers of an earlier bake of this model, confirmed against the registry, or undefined
 * (after a line saying why) when the model has to be read.
 */
export async function recallModelLayers(modelOf: MemoModel, plans: readonly LayerPlan[], options: LayerOptions, context: MemoContext): Promise<RecalledModel | undefined> {
  const model = modelOf.digest;
  if (!model) {
    context.log.debug('no model digest given: the model is read and hashed, and no memo is kept');
    return undefined;
  }
  const miss = await missOf({ ...modelOf, digest: model }, plans, options, context).catch((error: unknown): Miss => {
    if (context.client.options.signal.aborted) throw error;
    return { key: 'BakeMemoUnreadable', args: [error instanceof Error ? error.message : String(error)] };
  });
  if ('layers' in miss) {
    context.log.info('BakeMemoUsed', model, `${context.client.registry}/${context.repository}:${memoTag(model)}`, plans.length);
    return miss;
  }
  context.log.info(miss.key, model, `${context.client.registry}/${context.repository}`, ...miss.args);
  return undefined;
}

async function missOf(modelOf: MemoModel & { digest: string }, plans: readonly LayerPlan[], options: LayerOptions, context: MemoContext): Promise<Miss | RecalledModel> {
  const model = modelOf.digest;
  const installed = await installedMismatch(model, modelOf.path);
  if (installed) return installed;
  const { client, repository } = context;
  const manifest = await client.getManifest(repository, memoTag(model)).catch((error: unknown) => {
    if (error instanceof TaskError && error.key === 'ImageNotFound') return undefined;
    throw error;
  });
  if (!manifest) return { key: 'BakeMemoNone', args: [] };
  const memo = parseMemo(manifest.bytes, model);
  if ('args' in memo) return memo;
  if (memo.key !== memoKey(plans, options) || memo.layers.length !== plans.length) return { key: 'BakeMemoStale', args: [] };
  const files = await filesOf(memo.config, model, modelOf.files, context);
  if ('args' in files) return files;
  const layers: Layer[] = [];
  for (const [index, plan] of plans.entries()) {
    const known = memo.layers[index];
    const size = await client.blobSize(repository, known.digest);
    if (size === undefined) return { key: 'BakeMemoLayerMissing', args: [known.digest] };
    if (size !== known.size) return { key: 'BakeMemoTampered', args: [`layer ${known.digest} is ${size} bytes, not ${known.size}`] };
    const start = await startsAsPlanned(plan, options, known, context);
    if (start) return { key: 'BakeMemoTampered', args: [start] };
    layers.push(knownModelLayer(plan, options, known));
  }
  return { layers, ...files };
}

/** Fetch's record beside the model: when there is one, it has to name this digest, and no file may have changed since. */
async function installedMismatch(model: string, modelPath: string): Promise<Miss | undefined> {
  const record = await installRecord(modelPath).catch(() => undefined);
  if (!record) return undefined;
  const digests = [modelDigest(record.files, 'folder'), ...(record.files.length === 1 ? [modelDigest(record.files, 'file')] : [])];
  if (!digests.includes(model)) return { key: 'BakeMemoModelDiffers', args: [modelPath, digests[digests.length - 1]] };
  if (!record.unchanged) return { key: 'BakeMemoModelChanged', args: [modelPath] };
  return undefined;
}

/** Why the layer's blob does not start as this model's tar does, or undefined when it does. */
async function startsAsPlanned(plan: LayerPlan, options: LayerOptions, known: LayerDigests, context: MemoContext): Promise<string | undefined> {
  const gzip = known.mediaType === MediaType.ociLayerGzip;
  if (gzip !== (options.compression === 'gzip')) return `layer ${known.digest} has media type ${known.mediaType}`;
  if (!gzip && known.size !== tarSize(plan, options)) return `layer ${known.digest} is ${known.size} bytes, and this model's tar would be ${tarSize(plan, options)}`;
  const remote = await context.client.readBlobPrefix(context.repository, known.digest, Math.min(PREFIX_BYTES, known.size));
  const start = gzip ? await inflatedPrefix(remote) : remote;
  const local = await tarPrefix(plan, options, Math.min(start.length, PREFIX_BYTES));
  if (start.length === 0 || !start.subarray(0, local.length).equals(local)) return `layer ${known.digest} does not start with this model's files`;
  return undefined;
}

/**
 * The first PREFIX_BYTES (or so) a gzip prefix inflates to. Inflating stops there: 32 KiB of a
 * layer of text or zeros inflate to far more. A sync flush at the cut returns what it has.
 */
async function inflatedPrefix(bytes: Buffer): Promise<Buffer> {
  const gunzip = createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    gunzip.end(bytes);
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= PREFIX_BYTES) break;
    }
  } catch {
    // Not gzip, or corrupt: what inflated before the error is compared, and may well not match.
  }
  return Buffer.concat(chunks);
}

/**
 * Saves the memo after a full bake, with the file digests when the bake knew them and they make the
 * model digest. Best effort: without it the next bake reads the model again.
 */
export async function rememberModelLayers(model: string | undefined, plans: readonly LayerPlan[], options: LayerOptions, layers: readonly Layer[], files: FileDigests | undefined, context: MemoContext): Promise<void> {
  if (!model) return;
  const { client, repository } = context;
  const kept = files && makesModel(files, model) ? files : undefined;
  if (files && !kept) context.log.debug(`the model files' digests do not make model ${model}: the memo keeps none, and a re-bake's attestation hashes the files`);
  const config = memoConfig(kept);
  try {
    if (!(await client.hasBlob(repository, config.digest))) await uploadSmallBlob(client, repository, config);
    await client.putManifest(repository, memoTag(model), memoManifest(model, memoKey(plans, options), layers, config));
  } catch (error) {
    context.log.warn('BakeMemoNotSaved', model, `${client.registry}/${repository}`, error instanceof Error ? error.message : String(error));
  }
}
