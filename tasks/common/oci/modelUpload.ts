/**
 * A new model's layers go to the registry in one read of the model: each uncompressed layer is
 * streamed from disk in chunks and hashed as it is sent, and the digest the bytes make is the one
 * it is committed under. Nothing is read to hash it first; there is no dedup HEAD either (its
 * digest is not known before the upload): a re-bake finds its layers through the memo instead.
 */
import { mapBounded } from '../boundedMap';
import type { Progress } from '../log';
import type { Layer } from './layer';
import { MediaType } from './mediaTypes';
import { knownModelLayer, tarSize, type LayerOptions, type LayerPlan } from './modelLayers';
import type { RegistryClient } from './registry/client';
import { uploadHashing } from './registry/upload';

export interface ModelUploadContext {
  readonly client: RegistryClient;
  readonly repository: string;
  readonly concurrency: number;
  readonly chunkSize: number;
  readonly progress: Progress;
}

/** Uploads the layers of uncompressed plans; returns them with their digests, and the bytes sent. */
export async function uploadModelLayers(plans: readonly LayerPlan[], options: LayerOptions, context: ModelUploadContext): Promise<{ layers: Layer[]; uploaded: number }> {
  const { client, repository } = context;
  const sizes = plans.map((plan) => tarSize(plan, options));
  context.progress.start(`Pushing the model to ${client.registry}/${repository}`, sizes.reduce((sum, size) => sum + size, 0));
  let uploaded = 0;
  const layers = await mapBounded(plans, context.concurrency, async (plan, index) => {
    const pending = knownModelLayer(plan, options, { mediaType: MediaType.ociLayer, digest: '', diffId: '', size: sizes[index] });
    const { digest, sent } = await uploadHashing(client, repository, pending, { chunkSize: context.chunkSize, onBytes: (bytes) => context.progress.advance(bytes) });
    uploaded += sent;
    return knownModelLayer(plan, options, { mediaType: MediaType.ociLayer, digest, diffId: digest, size: sizes[index] });
  });
  context.progress.finish();
  return { layers, uploaded };
}
