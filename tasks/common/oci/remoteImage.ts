/**
 * Reads a base image from a registry into Image values: an OCI or Docker v2 schema 2 manifest, or
 * an index of them. Docker media types become OCI ones here, once, so an image never mixes them;
 * the layer blobs themselves are reused as they are.
 */
import { Readable } from 'node:stream';
import { TaskError } from '../errors';
import type { Image, ImageConfigFile } from './image';
import type { Descriptor, Layer, Platform } from './layer';
import { isIndex, isManifest, ociMediaType } from './mediaTypes';
import { manifestReference, repositoryName, type ImageReference } from './reference';
import type { Manifest, RegistryClient } from './registry/client';

export interface PlatformImage {
  readonly image: Image;
  /** Digest of this platform's base manifest, for org.opencontainers.image.base.digest. */
  readonly baseDigest: string;
}

export interface BaseImage {
  /** Digest of what the reference resolved to (the index for a multi-platform image). */
  readonly digest: string;
  readonly isIndex: boolean;
  readonly platforms: readonly PlatformImage[];
  /** Index entries that are not runnable images (attestations, unknown platforms), left out. */
  readonly skipped: readonly Descriptor[];
}

interface ManifestJson {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  manifests?: Descriptor[];
}

function remoteLayer(client: RegistryClient, repository: string, descriptor: Descriptor, diffId: string): Layer {
  const open = (offset = 0) =>
    Readable.from((async function* () {
      yield* await client.openBlob(repository, descriptor.digest, offset);
    })());
  return Object.freeze({
    mediaType: ociMediaType(descriptor.mediaType),
    digest: descriptor.digest,
    diffId,
    size: descriptor.size,
    source: { registry: client.registry, repository },
    open,
  });
}

async function readImage(client: RegistryClient, reference: ImageReference, manifest: Manifest, platform?: Platform): Promise<PlatformImage> {
  const json = JSON.parse(manifest.bytes.toString('utf8')) as ManifestJson;
  const config = JSON.parse((await client.readBlob(reference.repository, json.config.digest)).toString('utf8')) as ImageConfigFile;
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== json.layers.length) {
    throw new TaskError('BaseImageUnsupported', [repositoryName(reference), `its config lists ${diffIds.length} layer diff_ids for ${json.layers.length} layers`]);
  }
  const layers = json.layers.map((descriptor, index) => remoteLayer(client, reference.repository, descriptor, diffIds[index]));
  const image: Image = Object.freeze({ config, layers, annotations: {}, ...(platform ? { platform } : {}) });
  return { image, baseDigest: manifest.digest };
}

function isRunnable(descriptor: Descriptor): boolean {
  const platform = descriptor.platform;
  return isManifest(descriptor.mediaType) && platform !== undefined && platform.os !== 'unknown' && platform.architecture !== 'unknown';
}

export async function readBaseImage(client: RegistryClient, reference: ImageReference): Promise<BaseImage> {
  const top = await client.getManifest(reference.repository, manifestReference(reference));
  if (reference.digest && top.digest !== reference.digest) {
    throw new TaskError('RegistryDigestMismatch', [client.registry, reference.digest, top.digest]);
  }
  if (isManifest(top.mediaType)) {
    return { digest: top.digest, isIndex: false, platforms: [await readImage(client, reference, top)], skipped: [] };
  }
  if (!isIndex(top.mediaType)) throw new TaskError('BaseImageUnsupported', [repositoryName(reference), `media type '${top.mediaType}'`]);
  const entries = (JSON.parse(top.bytes.toString('utf8')) as ManifestJson).manifests ?? [];
  const runnable = entries.filter(isRunnable);
  if (runnable.length === 0) throw new TaskError('BaseImageUnsupported', [repositoryName(reference), 'its index lists no platform images']);
  const platforms: PlatformImage[] = [];
  for (const entry of runnable) {
    const manifest = await client.getManifest(reference.repository, entry.digest);
    platforms.push(await readImage(client, reference, manifest, entry.platform));
  }
  return { digest: top.digest, isIndex: true, platforms, skipped: entries.filter((entry) => !isRunnable(entry)) };
}
