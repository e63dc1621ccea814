/**
 * A new model's layers go to the registry in one read of the model: each layer is streamed from
 * disk in chunks and hashed as it is sent, and the digest the bytes make is the one it is committed
 * under. A gzip layer is compressed in that same read, and the tar it compresses is hashed on its
 * way in (its diffId); its size is what the stream gave. Nothing is read to hash it first; there
 * is no dedup HEAD either (its digest is not known before the upload): a re-bake finds its layers
 * through the memo instead. Asked to, the same read also hashes each model file (for the
 * attestation); a layer whose upload did not stream its tar once from start to end gives no file
 * digests, and its files are hashed apart.
 */
import { mapBounded } from '../boundedMap';
import type { Progress } from '../log';
import type { Layer } from './layer';
import { MediaType } from './mediaTypes';
import { knownModelLayer, layerFileDigests, newModelBlob, tarSize, type LayerOptions, type LayerPlan } from './modelLayers';
import type { RegistryClient } from './registry/client';
import { uploadHashing } from './registry/upload';

export interface ModelUploadContext {
  readonly client: RegistryClient;
  readonly repository: string;
  readonly concurrency: number;
  readonly chunkSize: number;
  readonly progress: Progress;
  /** Hash each model file in the upload's read too. */
  readonly hashFiles: boolean;
}

/** The new layers, the bytes sent, and each file's sha256 (hex) by its path on disk, where the upload's read gave it. */
export interface ModelUpload {
  readonly layers: Layer[];
  readonly uploaded: number;
  readonly files: ReadonlyMap<string, string>;
}

/** Uploads the layers of the plans; returns them with their digests, and the bytes sent. */
export async function uploadModelLayers(plans: readonly LayerPlan[], options: LayerOptions, context: ModelUploadContext): Promise<ModelUpload> {
  const { client, repository } = context;
  const mediaType = options.compression === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayer;
  // A gzip layer's size is known only once it is sent: the tar's size stands in for it.
  const total = plans.reduce((sum, plan) => sum + tarSize(plan, options), 0);
  context.progress.start(`Pushing the model to ${client.registry}/${repository}`, total);
  let uploaded = 0;
  const files = new Map<string, string>();
  const layers = await mapBounded(plans, context.concurrency, async (plan) => {
    const hashing = context.hashFiles ? layerFileDigests(plan, options) : undefined;
    const { digest, diffId, size, sent } = await uploadHashing(client, repository, newModelBlob(plan, options, hashing), { chunkSize: context.chunkSize, onBytes: (bytes) => context.progress.advance(bytes) });
    uploaded += sent;
    const learnt = hashing?.digests();
    for (const [source, sha256] of learnt ?? []) files.set(source, sha256);
    if (hashing && !learnt) client.options.log.debug(`the upload of ${digest} did not stream its tar once from start to end: its files are hashed apart for the attestation`);
    return knownModelLayer(plan, options, { mediaType, digest, diffId, size });
  });
  context.progress.finish();
  return { layers, uploaded, files };
}
