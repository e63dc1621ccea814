/**
 * An OCI repository as a model store: each tag is a version, a manifest digest pins one. The store
 * chooses the version itself (selectModel over its tags, so the same ordering and pre-release rule
 * apply), reading manifests only where the rule needs them (newest: creation times; tagQuery:
 * annotations). The chosen artifact's files then come from its layers, all through the registry
 * client Bake uses: a raw layer is one file, read with parallel ranged GETs and checked against the
 * layer digest; tar layers are pulled in parallel into a scratch folder, each checked against its
 * digest while it arrives, and their files are then served from there.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { mapBounded } from '../boundedMap';
import { RemoteError, SettingError, TaskError } from '../errors';
import type { Lifetime } from '../lifetime';
import type { Log } from '../log';
import { assertDigest, finishDigest, hasherFor, isContentDigest } from '../oci/digest';
import { readPeerConfig, readPeerManifest } from '../oci/peerManifest';
import type { Manifest, RegistryClient } from '../oci/registry/client';
import { annotationsOf, createdOf, overlay, planArtifact, type ArtifactPlan, type ModelLayer } from './ociArtifact';
import { recordCandidate, type ModelCandidate, type ModelFile } from './layout';
import { selectModel, type SelectionRule } from './select';
import type { ModelSetting } from './settings';
import type { ModelStore, StoredObject } from './store';
import { indexTar, type TarIndexEntry } from './tarIndex';
import { matchesTagQuery } from './tagQuery';
import { parseVersion, type Version } from './version';

export interface OciModel {
  readonly registry: string;
  /** e.g. models/churn */
  readonly repository: string;
  /** For an ordinary image: the folder in the image that holds the model. */
  readonly modelPathInImage?: string;
  /** Where tar layers are unpacked (Agent.TempDirectory). */
  readonly scratchFolder: string;
  /** Layers pulled at once. */
  readonly concurrency: number;
}

type Source = { readonly kind: 'blob'; readonly digest: string } | { readonly kind: 'tar'; readonly file: string; readonly offset: number };

interface Tagged {
  readonly tag: string;
  readonly version: Version;
}

const MANIFESTS_AT_ONCE = 8;
const EPOCH = new Date(0);

export class OciModelStore implements ModelStore {
  readonly location: string;
  private readonly sources = new Map<string, Source>();
  private manifestDigest = '';
  private scratch?: string;

  constructor(
    private readonly model: OciModel,
    private readonly client: RegistryClient,
    private readonly context: { readonly log: Log; readonly lifetime: Lifetime },
  ) {
    this.location = `oci://${model.registry}/${model.repository}`;
  }

  async chooseModel(rule: SelectionRule, includePrereleases: boolean, signal: AbortSignal): Promise<ModelCandidate> {
    if (rule.kind === 'pinned' && isContentDigest(rule.version)) {
      const manifest = await this.client.getManifest(this.model.repository, rule.version);
      return this.candidateOf({ tag: rule.version, version: { raw: rule.version, release: [], prerelease: [] } }, manifest, signal);
    }
    const tags = await this.client.listTags(this.model.repository);
    if (!tags) throw new SettingError<ModelSetting>('storeContainer', 'OciRepositoryNotFound', [this.location]);
    const tagged = tags.flatMap((tag): Tagged[] => {
      const version = parseVersion(tag) ?? (rule.kind === 'pinned' && tag === rule.version.trim() ? { raw: tag, release: [], prerelease: [] } : undefined);
      return version ? [{ tag, version }] : [];
    });
    const ignored = tags.filter((tag) => !tagged.some((entry) => entry.tag === tag));
    const details = rule.kind === 'newest' || rule.kind === 'tagQuery' ? await this.detailsOf(tagged) : undefined;
    const light = tagged.map(({ tag, version }) => recordCandidate(version, `${tag}/`, details?.get(tag)?.created ?? EPOCH));
    const tagMatches = rule.kind === 'tagQuery' ? new Set(tagged.filter(({ tag }) => matchesTagQuery(rule.query, details?.get(tag)?.annotations ?? {}, this.model.repository)).map(({ tag }) => `${tag}/`)) : undefined;
    const chosen = selectModel(light, rule, { location: this.location, prefix: '', tagMatches, ignored, includePrereleases });
    const tag = chosen.name.slice(0, -1);
    const manifest = details?.get(tag)?.manifest ?? (await this.client.getManifest(this.model.repository, tag));
    return this.candidateOf({ tag, version: chosen.version }, manifest, signal);
  }

  /** Each version tag's manifest, creation time and annotations, for newest and tagQuery. */
  private async detailsOf(tagged: readonly Tagged[]) {
    const read = await mapBounded(tagged, MANIFESTS_AT_ONCE, async ({ tag }) => {
      const manifest = await this.client.getManifest(this.model.repository, tag);
      const image = `${this.location}:${tag}`;
      // Checked first: a manifest that is not JSON, or names a descriptor that is not a digest, is refused here.
      const peer = readPeerManifest(manifest, image);
      const json = JSON.parse(manifest.bytes.toString('utf8')) as Record<string, unknown>;
      const annotations = annotationsOf(json.annotations, image);
      let created = createdOf(annotations, undefined);
      if (!created && peer.kind === 'manifest') created = createdOf({}, configJson(await this.client.readConfig(this.model.repository, peer.config.digest, image), image));
      return [tag, { manifest, annotations, created }] as const;
    });
    return new Map(read);
  }

  private async candidateOf(chosen: Tagged, manifest: Manifest, signal: AbortSignal): Promise<ModelCandidate> {
    const image = `${this.location}@${manifest.digest}`;
    const peer = readPeerManifest(manifest, image);
    if (peer.kind !== 'manifest') throw new RemoteError('OciArtifactUnsupported', [image, peer.mediaType, 'an index: pin one platform\'s manifest by its digest']);
    const json = JSON.parse(manifest.bytes.toString('utf8')) as Record<string, unknown>;
    const plan = planArtifact(json, peer.layers, peer.config.mediaType, image, this.model.modelPathInImage);
    if (plan.kind === 'image') readPeerConfig(await this.client.readConfig(this.model.repository, peer.config.digest, image), image);
    this.manifestDigest = manifest.digest;
    const created = createdOf(annotationsOf(json.annotations, image), undefined) ?? EPOCH;
    const files = await this.filesOf(plan, image, created, signal);
    const folder = `${chosen.tag}/`;
    const named = files.map((file) => ({ relativePath: file.relativePath, source: file.source, object: Object.freeze({ ...file.object, name: folder + file.relativePath }) }));
    for (const file of named) this.sources.set(file.object.name, file.source);
    this.context.log.info('OciArtifactChosen', plan.kind, image, plan.layers.length);
    return Object.freeze({ version: chosen.version, layout: 'folder' as const, name: folder, files: named.map(({ relativePath, object }) => ({ relativePath, object })), lastModified: created, size: named.reduce((sum, file) => sum + file.object.size, 0) });
  }

  private async filesOf(plan: ArtifactPlan, image: string, lastModified: Date, signal: AbortSignal): Promise<(ModelFile & { source: Source })[]> {
    const raw = plan.layers.filter((layer) => layer.format === 'raw').map((layer) => ({
      relativePath: layer.path,
      object: { name: layer.path, size: layer.descriptor.size, etag: layer.descriptor.digest, lastModified, sha256Metadata: layer.descriptor.digest },
      source: { kind: 'blob' as const, digest: layer.descriptor.digest },
    }));
    const tars = plan.layers.filter((layer) => layer.format !== 'raw');
    if (tars.length === 0) return raw;
    this.scratch ??= await mkdtemp(join(this.model.scratchFolder, 'oci-model-'));
    this.context.lifetime.track(this.scratch);
    const staged = await mapBounded(tars, this.model.concurrency, async (layer, index) => ({ layer, ...(await this.stageTar(layer, index, image, signal)) }));
    return [...raw, ...tarFiles(plan, staged, image, lastModified)];
  }

  /** Pulls one tar layer into the scratch folder, checked against its digest as it arrives, and lists its entries. */
  private async stageTar(layer: ModelLayer, index: number, image: string, signal: AbortSignal): Promise<{ file: string; entries: TarIndexEntry[] }> {
    const file = join(this.scratch!, `layer-${index}.tar`);
    const hash = hasherFor(layer.descriptor.digest);
    const body = await this.client.openBlob(this.model.repository, layer.descriptor.digest);
    const counted = new PassThrough({ transform: (chunk: Buffer, _, done) => (hash.update(chunk), done(null, chunk)) });
    const stages: NodeJS.ReadWriteStream[] = layer.format === 'tar+gzip' ? [counted, createGunzip()] : [counted];
    await pipeline([body, ...stages, createWriteStream(file)] as unknown as [Readable, NodeJS.WritableStream], { signal });
    assertDigest({ key: 'ModelLayerDigestMismatch', image }, layer.descriptor.digest, finishDigest(layer.descriptor.digest, hash));
    return { file, entries: await indexTar(file, `${image} layer ${layer.descriptor.digest}`) };
  }

  async *list(): AsyncIterable<StoredObject> {
    // The store chooses (chooseModel); nothing is listed by prefix.
  }

  async *findByTags(): AsyncIterable<string> {
    // Annotations answer a tag query inside chooseModel.
  }

  async readRange(object: StoredObject, offset: number, count: number): Promise<Readable> {
    const source = this.sources.get(object.name);
    if (!source) throw new TaskError('ObjectChanged', [`${this.location}/${object.name}`]);
    if (source.kind === 'blob') return this.client.openBlob(this.model.repository, source.digest, offset, count);
    return createReadStream(source.file, { start: source.offset + offset, end: source.offset + offset + count - 1 });
  }

  uriOf(): string {
    return `${this.location}@${this.manifestDigest}`;
  }

  async close(): Promise<void> {
    if (this.scratch) await rm(this.scratch, { recursive: true, force: true });
  }
}


/**
 * The model's files among the tar layers' entries: for an image, what survives the overlay under
 * modelPathInImage; otherwise every file under the layer's root, the common top folder of a
 * ModelKit's entries dropped. A link is refused: its target could lie outside the model.
 */
function tarFiles(plan: ArtifactPlan, staged: readonly { layer: ModelLayer; file: string; entries: TarIndexEntry[] }[], image: string, lastModified: Date): (ModelFile & { source: Source })[] {
  const picked: { path: string; entry: TarIndexEntry; file: string; layer: ModelLayer }[] = [];
  if (plan.kind === 'image') {
    const merged = overlay(staged.map((layer) => ({ layer, entries: layer.entries })));
    for (const [path, { layer, index }] of merged) picked.push({ path, entry: layer.entries[index], file: layer.file, layer: layer.layer });
  } else {
    for (const layer of staged) for (const entry of layer.entries) picked.push({ path: entry.path.replace(/\/+$/, ''), entry, file: layer.file, layer: layer.layer });
  }
  const kitRoot = plan.kind === 'modelkit' ? commonTopFolder(picked.filter((item) => item.entry.type !== 'directory').map((item) => item.path)) : '';
  const files: (ModelFile & { source: Source })[] = [];
  for (const { path, entry, file, layer } of picked) {
    const root = plan.kind === 'modelkit' ? kitRoot : plan.root(layer);
    const relativePath = root === '' ? path : path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path === root ? path.slice(path.lastIndexOf('/') + 1) : undefined;
    if (relativePath === undefined || relativePath === '' || entry.type === 'directory') continue;
    if (entry.type !== 'file') throw new RemoteError('OciModelLinkUnsupported', [image, path, layer.descriptor.digest]);
    files.push({ relativePath, object: { name: relativePath, size: entry.size, etag: `${layer.descriptor.digest}@${entry.offset}`, lastModified }, source: { kind: 'tar', file, offset: entry.offset } });
  }
  if (files.length === 0) throw new RemoteError('OciArtifactHasNoModel', [plan.kind === 'image' ? `${image} (under ${plan.root(staged[0].layer)})` : image]);
  return files;
}

/** A config blob (already checked against its digest) as JSON, or a clear refusal. */
function configJson(bytes: Buffer, image: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // refused below
  }
  throw new RemoteError('ManifestInvalid', [image, 'its config is not a JSON object']);
}

/** The one folder every path sits under ('models' for models/a.bin and models/b/c.bin), or ''. */
function commonTopFolder(paths: readonly string[]): string {
  const top = paths[0]?.split('/')[0];
  return top && paths.every((path) => path.startsWith(`${top}/`)) ? top : '';
}
