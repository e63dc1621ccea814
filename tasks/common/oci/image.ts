/**
 * Images as immutable values. Every transformation returns a new Image; nothing here does I/O.
 * The manifest and config bytes are produced only by serializeImage, so what is pushed is exactly
 * what was described.
 */
import { createHash } from 'node:crypto';
import { descriptorOf, type Descriptor, type Layer, type Platform } from './layer';
import { MediaType } from './mediaTypes';

/** The parts of the OCI image config we read or change; everything else is carried through untouched. */
export interface ImageConfigFile {
  readonly created?: string;
  readonly architecture?: string;
  readonly os?: string;
  readonly config?: Readonly<ContainerConfig>;
  readonly rootfs: { readonly type: string; readonly diff_ids: readonly string[] };
  readonly history?: readonly HistoryEntry[];
  readonly [other: string]: unknown;
}

export interface ContainerConfig {
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly User?: string;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly [other: string]: unknown;
}

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export interface Image {
  readonly config: ImageConfigFile;
  readonly layers: readonly Layer[];
  readonly annotations: Readonly<Record<string, string>>;
  /** The platform an index lists this image under, carried into the new index. */
  readonly platform?: Platform;
}

/** Bytes ready to push, with their digest. */
export interface Blob {
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly digest: string;
}

export function blobOf(mediaType: string, value: unknown): Blob {
  return rawBlobOf(mediaType, Buffer.from(JSON.stringify(value)));
}

/** Bytes as they are, with their digest. */
export function rawBlobOf(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

export function appendLayers(image: Image, layers: readonly Layer[], history: readonly HistoryEntry[]): Image {
  const config: ImageConfigFile = {
    ...image.config,
    rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, ...layers.map((layer) => layer.diffId)] },
    history: [...(image.config.history ?? []), ...history],
  };
  return Object.freeze({ ...image, config, layers: [...image.layers, ...layers] });
}

export function withConfig(image: Image, change: (config: ImageConfigFile) => ImageConfigFile): Image {
  return Object.freeze({ ...image, config: change(image.config) });
}

export function withAnnotations(image: Image, annotations: Readonly<Record<string, string>>): Image {
  return Object.freeze({ ...image, annotations: { ...image.annotations, ...annotations } });
}

/** The config and manifest blobs of an image, always with OCI media types. */
export function serializeImage(image: Image): { config: Blob; manifest: Blob } {
  const config = blobOf(MediaType.ociConfig, image.config);
  const manifest = blobOf(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
    layers: image.layers.map(descriptorOf),
    ...(Object.keys(image.annotations).length > 0 ? { annotations: image.annotations } : {}),
  });
  return { config, manifest };
}

/** An OCI index over already-serialized manifests, in the order given. */
export function serializeIndex(manifests: readonly Descriptor[], annotations: Readonly<Record<string, string>>): Blob {
  return blobOf(MediaType.ociIndex, {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  });
}
