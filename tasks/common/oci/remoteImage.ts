/**
 * Reads a base image from a registry into Image values: an OCI or Docker v2 schema 2 manifest, or
 * an index of them. Docker media types become OCI ones here, once, so an image never mixes them;
 * the layer blobs themselves are reused as they are. Every manifest fetched by digest and every
 * config is checked against its digest; layer bytes are checked where they pass through us.
 */
import { Readable } from 'node:stream';
import { TaskError } from '../errors';
import { streamErrorOf } from '../net/body';
import type { Image } from './image';
import type { Descriptor, Layer, Platform } from './layer';
import { isManifest, ociMediaType } from './mediaTypes';
import { readPeerConfig, readPeerManifest, type PeerManifest } from './peerManifest';
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

/** A layer of a blob in the registry, read on demand (a base image's, or a model artifact's to mount). */
export function remoteLayer(client: RegistryClient, repository: string, descriptor: Descriptor, diffId: string): Layer {
  const open = (offset = 0) =>
    Readable.from((async function* () {
      const body = await client.openBlob(repository, descriptor.digest, offset);
      try {
        yield* body;
      } catch (error) {
        // A body that broke off is the base registry's failure, retried as such.
        throw streamErrorOf(error, client.registry);
      }
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

/** One platform's image: its config (checked against its digest) and its layers, read on demand. */
async function readImage(client: RegistryClient, reference: ImageReference, manifest: { digest: string; json: PeerManifest }, platform?: Platform): Promise<PlatformImage> {
  const image = `${repositoryName(reference)}@${manifest.digest}`;
  const json = manifest.json;
  if (json.kind !== 'manifest') throw new TaskError('BaseImageUnsupported', [image, `media type '${json.mediaType}' where an image manifest belongs`]);
  const config = readPeerConfig(await client.readConfig(reference.repository, json.config.digest, image), image);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== json.layers.length) {
    throw new TaskError('BaseImageUnsupported', [image, `its config lists ${diffIds.length} layer diff_ids for ${json.layers.length} layers`]);
  }
  const layers = json.layers.map((descriptor, index) => remoteLayer(client, reference.repository, descriptor, diffIds[index]));
  return { image: Object.freeze({ config, layers, annotations: {}, ...(platform ? { platform } : {}) }), baseDigest: manifest.digest };
}

async function readChild(client: RegistryClient, reference: ImageReference, entry: Descriptor): Promise<PlatformImage> {
  const manifest = await client.getManifest(reference.repository, entry.digest);
  return readImage(client, reference, { digest: manifest.digest, json: readPeerManifest(manifest, `${repositoryName(reference)}@${entry.digest}`) }, entry.platform);
}

function isRunnable(descriptor: Descriptor): boolean {
  const platform = descriptor.platform;
  return isManifest(descriptor.mediaType) && platform !== undefined && platform.os !== 'unknown' && platform.architecture !== 'unknown';
}

async function readIndex(client: RegistryClient, reference: ImageReference, top: Manifest, index: Extract<PeerManifest, { kind: 'index' }>): Promise<BaseImage> {
  const runnable = index.manifests.filter(isRunnable);
  if (runnable.length === 0) throw new TaskError('BaseImageUnsupported', [repositoryName(reference), 'its index lists no platform images']);
  const platforms: PlatformImage[] = [];
  for (const entry of runnable) {
    platforms.push(await readChild(client, reference, entry));
  }
  return { digest: top.digest, isIndex: true, platforms, skipped: index.manifests.filter((entry) => !isRunnable(entry)) };
}

export async function readBaseImage(client: RegistryClient, reference: ImageReference): Promise<BaseImage> {
  // A pinned reference is fetched by its digest, and getManifest checks the bytes against it.
  const top = await client.getManifest(reference.repository, manifestReference(reference));
  const json = readPeerManifest(top, `${repositoryName(reference)}@${top.digest}`);
  if (json.kind === 'manifest') return { digest: top.digest, isIndex: false, platforms: [await readImage(client, reference, { digest: top.digest, json })], skipped: [] };
  if (json.kind === 'index') return readIndex(client, reference, top, json);
  throw new TaskError('BaseImageUnsupported', [repositoryName(reference), `media type '${json.mediaType}'`]);
}
