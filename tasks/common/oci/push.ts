/**
 * The one sink: puts images (and their index, for a multi-platform base) into a repository. Blobs
 * the registry has are skipped, blobs in another repository of the same registry are mounted, and
 * only the rest is uploaded, four at a time.
 */
import { mapBounded } from '../boundedMap';
import type { Log, Progress } from '../log';
import { serializeImage, serializeIndex, type Image } from './image';
import type { Descriptor, Layer } from './layer';
import type { RegistryClient } from './registry/client';
import { uploadBlob, uploadSmallBlob } from './registry/upload';

export interface PushRequest {
  readonly repository: string;
  readonly images: readonly Image[];
  /** Set when the images are the platforms of one index; its annotations go on the new index. */
  readonly index?: { readonly annotations: Readonly<Record<string, string>> };
  readonly tags: readonly string[];
}

export interface PushResult {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytesUploaded: number;
  readonly bytesReused: number;
}

export interface PushOptions {
  readonly concurrency: number;
  readonly chunkSize: number;
  readonly log: Log;
  readonly progress: Progress;
}

function uniqueLayers(images: readonly Image[]): Layer[] {
  const byDigest = new Map<string, Layer>();
  for (const image of images) for (const layer of image.layers) if (!byDigest.has(layer.digest)) byDigest.set(layer.digest, layer);
  return [...byDigest.values()];
}

/** Finds out which layers are missing; mounts what can be mounted. Returns what must be uploaded. */
async function settleExisting(client: RegistryClient, repository: string, layers: readonly Layer[], options: PushOptions) {
  const missing: { layer: Layer; session?: URL }[] = [];
  let reused = 0;
  await mapBounded(layers, options.concurrency * 2, async (layer) => {
    if (await client.hasBlob(repository, layer.digest)) {
      reused += layer.size;
      return;
    }
    const source = layer.source;
    if (source && source.registry === client.registry && source.repository !== repository) {
      const session = await client.mountBlob(repository, layer.digest, source.repository);
      if (!session) {
        options.log.debug(`mounted ${layer.digest} from ${source.repository}`);
        reused += layer.size;
        return;
      }
      missing.push({ layer, session });
      return;
    }
    missing.push({ layer });
  });
  return { missing, reused };
}

/** Config blob, then the manifest under each reference; returns the manifest's descriptor. */
async function pushImage(client: RegistryClient, repository: string, image: Image, references: (digest: string) => readonly string[]) {
  const { config, manifest } = serializeImage(image);
  let uploaded = 0;
  if (!(await client.hasBlob(repository, config.digest))) {
    await uploadSmallBlob(client, repository, config);
    uploaded += config.bytes.length;
  }
  for (const reference of references(manifest.digest)) {
    await client.putManifest(repository, reference, manifest);
    uploaded += manifest.bytes.length;
  }
  const descriptor: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length, ...(image.platform ? { platform: image.platform } : {}) };
  return { descriptor, uploaded };
}

export async function push(client: RegistryClient, request: PushRequest, options: PushOptions): Promise<PushResult> {
  const { repository, tags } = request;
  const { missing, reused } = await settleExisting(client, repository, uniqueLayers(request.images), options);
  let uploaded = 0;
  options.progress.start(`Pushing to ${client.registry}/${repository}`, missing.reduce((sum, item) => sum + item.layer.size, 0));
  await mapBounded(missing, options.concurrency, async ({ layer, session }) => {
    uploaded += await uploadBlob(client, repository, layer, { chunkSize: options.chunkSize, session, onBytes: (bytes) => options.progress.advance(bytes) });
  });
  options.progress.finish();

  const taggedOr = (digest: string) => (tags.length > 0 ? tags : [digest]);
  const result = (digest: string, mediaType: string): PushResult => ({ digest, mediaType, bytesUploaded: uploaded, bytesReused: reused });
  if (!request.index) {
    const single = await pushImage(client, repository, request.images[0], taggedOr);
    uploaded += single.uploaded;
    return result(single.descriptor.digest, single.descriptor.mediaType);
  }
  // Platform manifests go in by digest first: a registry refuses an index naming manifests it lacks.
  const manifests: Descriptor[] = [];
  for (const image of request.images) {
    const pushed = await pushImage(client, repository, image, (digest) => [digest]);
    uploaded += pushed.uploaded;
    manifests.push(pushed.descriptor);
  }
  const index = serializeIndex(manifests, request.index.annotations);
  for (const reference of taggedOr(index.digest)) {
    await client.putManifest(repository, reference, index);
    uploaded += index.bytes.length;
  }
  return result(index.digest, index.mediaType);
}
