/**
 * The sha256 of each model file in a layer, taken from the tar bytes the upload streams anyway, so
 * the attestation needs no read of its own. The tar's segments say where each file's bytes lie.
 *
 * The rule that keeps the digests right however the upload went: they count only from one pass
 * that streamed every byte of the tar once, in order, from its first byte to its end. A pass from
 * byte 0 starts them over; bytes anywhere but where the pass stands (an upload resumed mid-way,
 * bytes skipped or sent again) break the pass, and then the files are hashed apart.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Segment, TarEntry } from './tar';

/** Where one file's bytes lie in the tar. */
interface FileRange {
  readonly source: string;
  readonly start: number;
  readonly end: number;
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

function fileRanges(segments: readonly Segment[]): FileRange[] {
  const ranges: FileRange[] = [];
  let offset = 0;
  for (const segment of segments) {
    const length = segment.kind === 'bytes' ? segment.data.length : segment.size;
    if (segment.kind === 'file') ranges.push({ source: segment.path, start: offset, end: offset + length });
    offset += length;
  }
  return ranges;
}

/** One read of the tar from its first byte, hashing each file's bytes as they pass. */
class Pass {
  at = 0;
  private next = 0;
  readonly hashes: Hash[];

  constructor(private readonly ranges: readonly FileRange[]) {
    this.hashes = ranges.map(() => createHash('sha256'));
  }

  update(piece: Buffer): void {
    const pieceStart = this.at;
    const pieceEnd = pieceStart + piece.length;
    while (this.next < this.ranges.length && this.ranges[this.next].start < pieceEnd) {
      const range = this.ranges[this.next];
      const from = Math.max(range.start, pieceStart);
      const to = Math.min(range.end, pieceEnd);
      if (to > from) this.hashes[this.next].update(piece.subarray(from - pieceStart, to - pieceStart));
      if (range.end > pieceEnd) break;
      this.next += 1;
    }
    this.at = pieceEnd;
  }
}

export class TarFileDigests {
  private readonly ranges: readonly FileRange[];
  private readonly size: number;
  private readonly empty: readonly string[];
  private pass: Pass | undefined;

  constructor(entries: readonly TarEntry[], segments: readonly Segment[]) {
    this.ranges = fileRanges(segments);
    this.size = segments.reduce((total, segment) => total + (segment.kind === 'bytes' ? segment.data.length : segment.size), 0);
    // An empty file has no bytes in the tar, and a digest all the same.
    this.empty = entries.filter((entry) => entry.type === 'file' && entry.size === 0).map((entry) => entry.source!);
  }

  /** A new read of the tar from its first byte (a gzip layer's input): the returned function takes its bytes in order. */
  read(): (piece: Buffer) => void {
    const pass = new Pass(this.ranges);
    this.pass = pass;
    return (piece) => pass.update(piece);
  }

  /** Bytes of the tar at `offset`, as an upload sends them: from 0 a new pass, where the pass stands more of it, anywhere else the pass breaks. */
  sent(offset: number, piece: Buffer): void {
    if (offset === 0 && piece.length > 0) this.read();
    if (this.pass && this.pass.at === offset) this.pass.update(piece);
    else this.pass = undefined;
  }

  /** Each file's sha256 (hex) by its path on disk, or undefined when no pass streamed the whole tar. */
  digests(): ReadonlyMap<string, string> | undefined {
    const pass = this.pass;
    if (!pass || pass.at !== this.size) return undefined;
    const digests = new Map<string, string>(this.empty.map((source) => [source, EMPTY_SHA256]));
    this.ranges.forEach((range, index) => digests.set(range.source, pass.hashes[index].copy().digest('hex')));
    return digests;
  }
}
