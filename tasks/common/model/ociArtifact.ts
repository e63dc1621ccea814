/**
 * What an OCI artifact holds as a model, decided from its manifest and config alone (pure):
 * a CNCF ModelPack (weight layers, raw or tar, each naming its path in org.cncf.model.filepath),
 * a KitOps ModelKit (model and model-part tar layers), or an ordinary image whose files under
 * modelPathInImage are the model. Every annotation and time read here came from the registry.
 */
import { RemoteError, SettingError } from '../errors';
import type { Descriptor } from '../oci/layer';
import { MediaType } from '../oci/mediaTypes';
import type { ModelSetting } from './settings';

export const ModelPackMediaType = {
  manifest: 'application/vnd.cncf.model.manifest.v1+json',
  config: 'application/vnd.cncf.model.config.v1+json',
  weightPrefix: 'application/vnd.cncf.model.weight.',
  filepath: 'org.cncf.model.filepath',
} as const;

export const KitOpsMediaType = {
  config: 'application/vnd.kitops.modelkit.config.v1+json',
  model: /^application\/vnd\.kitops\.modelkit\.(model|modelpart)\.v1\.tar(\+gzip)?$/,
} as const;

export type LayerFormat = 'raw' | 'tar' | 'tar+gzip';

export interface ModelLayer {
  readonly descriptor: Descriptor;
  readonly format: LayerFormat;
  /** raw: the file's path in the model; tar: the folder the entries sit under ('' for the root). */
  readonly path: string;
}

export interface ArtifactPlan {
  readonly kind: 'modelpack' | 'modelkit' | 'image';
  readonly layers: readonly ModelLayer[];
  /** tar entries under this folder (relative to it) are the model; '' takes them all as they are named. */
  readonly root: (layer: ModelLayer) => string;
}

type Json = Readonly<Record<string, unknown>>;

/** The manifest's annotations, each a string; anything else in them is refused. */
export function annotationsOf(value: unknown, image: string): Readonly<Record<string, string>> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new RemoteError('ManifestInvalid', [image, 'its annotations are not a map of strings']);
  }
  return value as Record<string, string>;
}

function formatOf(mediaType: string): LayerFormat | undefined {
  if (mediaType.endsWith('.raw')) return 'raw';
  if (/[.+]tar\+gzip$|\.tar\.gzip$/.test(mediaType)) return 'tar+gzip';
  if (/[.+]tar$/.test(mediaType)) return 'tar';
  return undefined;
}

/** A path as the artifact names it, without './', leading or trailing slashes. */
function cleanPath(path: string): string {
  return path.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

/**
 * The plan for the artifact's manifest (JSON already parsed and its descriptors checked) and its
 * config media type. modelPathInImage is needed only for an ordinary image.
 */
export function planArtifact(manifest: Json, layers: readonly Descriptor[], configMediaType: string, image: string, modelPathInImage?: string): ArtifactPlan {
  const rawLayers = Array.isArray(manifest.layers) ? (manifest.layers as Json[]) : [];
  const annotated = layers.map((descriptor, index) => ({ descriptor, annotations: annotationsOf(rawLayers[index]?.annotations, image) }));
  if (manifest.artifactType === ModelPackMediaType.manifest || configMediaType === ModelPackMediaType.config) {
    const weights = annotated.filter(({ descriptor }) => descriptor.mediaType.startsWith(ModelPackMediaType.weightPrefix));
    const planned = weights.map(({ descriptor, annotations }) => {
      const format = formatOf(descriptor.mediaType);
      if (!format) throw new RemoteError('OciModelLayerUnsupported', [image, descriptor.mediaType, descriptor.digest]);
      const path = cleanPath(annotations[ModelPackMediaType.filepath] ?? '');
      if (format === 'raw' && !path) throw new RemoteError('ManifestInvalid', [image, `raw layer ${descriptor.digest} has no ${ModelPackMediaType.filepath} annotation`]);
      return { descriptor, format, path };
    });
    // One folder packed as tar layers (a modelcar: models/churn/...) is the model's root; files and
    // folders packed one by one keep their paths from the artifact's root.
    const paths = new Set(planned.map((layer) => (layer.format === 'raw' ? '' : layer.path)));
    const root = paths.size === 1 ? [...paths][0] : '';
    return { kind: 'modelpack', layers: nonEmpty(planned, image), root: () => root };
  }
  if (configMediaType === KitOpsMediaType.config) {
    const planned = annotated.filter(({ descriptor }) => KitOpsMediaType.model.test(descriptor.mediaType)).map(({ descriptor }) => ({ descriptor, format: formatOf(descriptor.mediaType)!, path: '' }));
    return { kind: 'modelkit', layers: nonEmpty(planned, image), root: () => '' };
  }
  if (configMediaType === MediaType.ociConfig || configMediaType === MediaType.dockerConfig) {
    if (!modelPathInImage) throw new SettingError<ModelSetting>('modelPathInImage', 'OciImageNeedsModelPath', [image]);
    const root = cleanPath(modelPathInImage);
    const planned = layers.map((descriptor) => {
      const format = formatOf(descriptor.mediaType === MediaType.dockerLayerGzip ? MediaType.ociLayerGzip : descriptor.mediaType);
      if (format !== 'tar' && format !== 'tar+gzip') throw new RemoteError('OciModelLayerUnsupported', [image, descriptor.mediaType, descriptor.digest]);
      return { descriptor, format, path: root };
    });
    return { kind: 'image', layers: nonEmpty(planned, image), root: () => root };
  }
  throw new RemoteError('OciArtifactUnsupported', [image, configMediaType, String(manifest.artifactType ?? '(none)')]);
}

function nonEmpty(layers: ModelLayer[], image: string): ModelLayer[] {
  if (layers.length === 0) throw new RemoteError('OciArtifactHasNoModel', [image]);
  return layers;
}

/**
 * When the artifact was made: the manifest's org.opencontainers.image.created annotation, else the
 * config's created (images) or descriptor.createdAt (ModelPack); undefined when none is a date.
 */
export function createdOf(annotations: Readonly<Record<string, string>>, config: Json | undefined): Date | undefined {
  const descriptor = config?.descriptor as Json | undefined;
  for (const value of [annotations['org.opencontainers.image.created'], config?.created, descriptor?.createdAt]) {
    if (typeof value !== 'string') continue;
    const time = Date.parse(value);
    if (!Number.isNaN(time)) return new Date(time);
  }
  return undefined;
}

/**
 * Merges image layers in order as a container runtime would: a later file replaces an earlier
 * one, `.wh.<name>` removes a path and `.wh..wh..opq` empties its folder. Returns the surviving
 * regular files (by path) with the layer that holds them.
 */
export function overlay<T>(layers: readonly { layer: T; entries: readonly { path: string; type: string }[] }[]): Map<string, { layer: T; index: number }> {
  const files = new Map<string, { layer: T; index: number }>();
  const removeUnder = (folder: string) => {
    for (const path of [...files.keys()]) if (path === folder || path.startsWith(`${folder}/`) || folder === '') files.delete(path);
  };
  for (const { layer, entries } of layers) {
    entries.forEach((entry, index) => {
      const slash = entry.path.lastIndexOf('/');
      const folder = slash < 0 ? '' : entry.path.slice(0, slash);
      const base = entry.path.slice(slash + 1);
      if (base === '.wh..wh..opq') return removeUnder(folder);
      if (base.startsWith('.wh.')) return removeUnder(folder ? `${folder}/${base.slice(4)}` : base.slice(4));
      if (entry.type === 'file') files.set(entry.path.replace(/\/+$/, ''), { layer, index });
      else files.delete(entry.path.replace(/\/+$/, ''));
    });
  }
  return files;
}
