/**
 * Layers as small read-only values: what a manifest says about a blob (media type, digest, size),
 * what the config says (diffId), and a way to read its bytes. Base image layers and model layers
 * look the same to the image and to push.
 */
import type { Readable } from 'node:stream';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Readonly<Platform>;
  readonly urls?: readonly string[];
}

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
}

/** Where a blob already lives, so push can mount it instead of uploading it. */
export interface BlobSource {
  readonly registry: string;
  readonly repository: string;
}

export interface Layer {
  readonly mediaType: string;
  /** Digest of the blob as stored (compressed when compressed). */
  readonly digest: string;
  /** Digest of the uncompressed tar, as listed in the config's rootfs.diff_ids. */
  readonly diffId: string;
  readonly size: number;
  /** Set for layers that exist in a registry already (the base image's). */
  readonly source?: BlobSource;
  /** The blob's bytes from offset to the end; given `end` (exclusive), a blob read from disk stops there, and no read runs ahead past it. */
  open(offset?: number, end?: number): Readable;
}

export function descriptorOf(layer: Layer): Descriptor {
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
}
