/**
 * Turns the model's entries into layers. Files of 64 MiB or more get a layer each and the rest share
 * one, so an unchanged weights file has the same layer digest in every model version and the
 * registry never receives it twice.
 */
import { Readable, pipeline as pipelineCallback } from 'node:stream';
import { createGzip } from 'node:zlib';
import { compareBytes } from '../bytes';
import type { Layer } from './layer';
import type { ModelEntry } from './modelFiles';
import type { NewBlob } from './registry/upload';
import { TarFileDigests } from './tarFileDigests';
import { openSegments, READ_CHUNK, segmentsSize, tarSegments, type Segment, type TarEntry } from './tar';

export const OWN_LAYER_THRESHOLD = 64 * 1024 * 1024;

export type Compression = 'none' | 'gzip';

export interface LayerPlan {
  /** Tar entries in archive order: parent directories first, then sorted paths. */
  readonly entries: readonly TarEntry[];
  /** What the history entry says this layer holds. */
  readonly description: string;
}

/** "/opt/ml/model" -> ["opt/", "opt/ml/", "opt/ml/model/"]. */
function ancestorDirectories(imagePath: string): string[] {
  const parts = imagePath.split('/').filter(Boolean);
  return parts.map((_, index) => `${parts.slice(0, index + 1).join('/')}/`);
}

function directoryEntry(path: string): TarEntry {
  return { path, type: 'directory', mode: 0o755, size: 0 };
}

function tarEntryOf(entry: ModelEntry, root: string): TarEntry {
  const path = `${root}${entry.relativePath}`;
  switch (entry.type) {
    case 'directory':
      return directoryEntry(`${path}/`);
    case 'symlink':
      return { path, type: 'symlink', mode: 0o777, size: 0, linkTarget: entry.linkTarget };
    case 'file':
      return { path, type: 'file', mode: entry.executable ? 0o755 : 0o644, size: entry.size, source: entry.source };
  }
}

/** Every directory a layer needs, explicitly, so the layer unpacks the same on any runtime. */
function withParents(entries: readonly TarEntry[]): TarEntry[] {
  const directories = new Set<string>();
  for (const entry of entries) {
    for (const directory of ancestorDirectories(entry.path).slice(0, -1)) directories.add(directory);
    if (entry.type === 'directory') directories.add(entry.path);
  }
  const others = entries.filter((entry) => entry.type !== 'directory');
  return [...[...directories].map(directoryEntry), ...others].sort((a, b) => compareBytes(a.path, b.path));
}

/** Pure: which entries go into which layer, for a model installed at modelDirectory. */
export function planModelLayers(model: readonly ModelEntry[], modelDirectory: string, threshold = OWN_LAYER_THRESHOLD): LayerPlan[] {
  const root = ancestorDirectories(modelDirectory).at(-1) ?? '';
  const entries = model.map((entry) => tarEntryOf(entry, root));
  const large = entries.filter((entry) => entry.type === 'file' && entry.size >= threshold);
  const shared = entries.filter((entry) => !large.includes(entry));
  const plans: LayerPlan[] = [];
  const sharedFiles = shared.filter((entry) => entry.type === 'file').length;
  if (shared.length > 0 || large.length === 0) {
    plans.push({ entries: withParents([directoryEntry(root), ...shared]), description: `model files (${sharedFiles} small files)` });
  }
  for (const entry of large.sort((a, b) => compareBytes(a.path, b.path))) {
    plans.push({ entries: withParents([entry]), description: `model file /${entry.path}` });
  }
  return plans;
}

async function* skipBytes(chunks: AsyncIterable<Buffer>, count: number): AsyncGenerator<Buffer> {
  let skip = count;
  for await (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    yield chunk.subarray(skip);
    skip = 0;
  }
}

async function* tapped(chunks: AsyncIterable<Buffer>, tap: (piece: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    tap(chunk);
    yield chunk;
  }
}

/** The gzip layer's bytes from `offset`; `tap` sees the tar as it is compressed (for the diffId). */
function gzipped(segments: readonly Segment[], offset: number, tap?: (piece: Buffer) => void): Readable {
  // Output in pieces as large as the reads: a third faster than zlib's 16 KiB, and the same bytes.
  const gzip = createGzip({ chunkSize: READ_CHUNK });
  const tar = openSegments(segments);
  // pipeline (not pipe) so a file that fails to read fails the compressed stream too.
  pipelineCallback(tap ? Readable.from(tapped(tar, tap), { objectMode: false }) : tar, gzip, (error) => error && gzip.destroy(error));
  // gzip output is deterministic, so a resumed upload recompresses and skips what was sent.
  return offset === 0 ? gzip : Readable.from(skipBytes(gzip, offset));
}

export interface LayerOptions {
  readonly mtime: number;
  readonly compression: Compression;
}

/** What a layer's digests are, once known. */
export type LayerDigests = Pick<Layer, 'mediaType' | 'digest' | 'diffId' | 'size'>;

/**
 * A new layer's bytes for the upload that learns its digests (uploadHashing): an uncompressed tar
 * of known size from any offset, or the gzip stream from its first byte, showing the tar it reads.
 * With `files`, each file's bytes are hashed too as the tar passes (tarFileDigests.ts).
 */
export function newModelBlob(plan: LayerPlan, options: LayerOptions, files?: TarFileDigests): NewBlob {
  const segments = tarSegments(plan.entries, options.mtime);
  if (options.compression === 'none') return { size: segmentsSize(segments), open: (offset = 0, end?: number) => openSegments(segments, offset, end), ...(files ? { sent: (offset: number, piece: Buffer) => files.sent(offset, piece) } : {}) };
  return { open: (tap: (piece: Buffer) => void) => gzipped(segments, 0, files ? both(tap, files.read()) : tap) };
}

function both(first: (piece: Buffer) => void, second: (piece: Buffer) => void): (piece: Buffer) => void {
  return (piece) => {
    first(piece);
    second(piece);
  };
}

/** The per-file hasher of a layer's tar, for newModelBlob. */
export function layerFileDigests(plan: LayerPlan, options: LayerOptions): TarFileDigests {
  return new TarFileDigests(plan.entries, tarSegments(plan.entries, options.mtime));
}

/** A layer whose digests are known already (an earlier bake's memo): nothing is read until it is opened. */
export function knownModelLayer(plan: LayerPlan, options: LayerOptions, known: LayerDigests): Layer {
  const segments = tarSegments(plan.entries, options.mtime);
  const open = options.compression === 'none' ? (offset = 0, end?: number) => openSegments(segments, offset, end) : (offset = 0) => gzipped(segments, offset);
  return Object.freeze({ mediaType: known.mediaType, digest: known.digest, diffId: known.diffId, size: known.size, open });
}

/**
 * The layer's tar as it starts, at most `count` bytes (what an earlier bake's blob must start with).
 * The segments are cut at `count` first, so no more than that is read from the files.
 */
export async function tarPrefix(plan: LayerPlan, options: LayerOptions, count: number): Promise<Buffer> {
  const cut: Segment[] = [];
  let left = count;
  for (const segment of tarSegments(plan.entries, options.mtime)) {
    if (left <= 0) break;
    const length = segment.kind === 'bytes' ? segment.data.length : segment.size;
    const taken = Math.min(length, left);
    cut.push(segment.kind === 'bytes' ? { kind: 'bytes', data: segment.data.subarray(0, taken) } : { ...segment, size: taken });
    left -= taken;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of openSegments(cut) as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The uncompressed tar's size, known from the plan alone. */
export function tarSize(plan: LayerPlan, options: LayerOptions): number {
  return segmentsSize(tarSegments(plan.entries, options.mtime));
}
