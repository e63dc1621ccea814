/**
 * Where the PATCH bodies of a chunked upload come from. A blob of known size is read afresh from
 * each chunk's offset (a tar on disk, a blob streamed from another registry); a blob whose length
 * is learnt only by reading it to its end (a layer compressed as it is sent) is read once, chunk by
 * chunk (streamedChunks.ts). The uploader drives either the same way: ask for the chunk at an
 * offset, tell it what the registry accepted, and after a failure where the registry stands.
 */
import type { Readable } from 'node:stream';
import type { Layer } from '../layer';
import type { CommittedDigest } from './committedDigest';

/** One PATCH's worth of a blob. */
export interface Chunk {
  readonly length: number;
  /** The blob's bytes from the chunk's start; the sender takes exactly `length` of them. */
  open(): Readable;
  /** A fresh hasher for one attempt at sending the chunk, when bytes are hashed as they leave. */
  hashing?(): (piece: Buffer) => void;
}

export interface ChunkSource {
  /** The blob in messages and logs: its digest, or what it is while that is not known. */
  readonly name: string;
  /** The chunk that starts at `offset`, at most `max` bytes; undefined where the blob ends. */
  chunk(offset: number, max: number): Promise<Chunk | undefined>;
  /** The registry accepted the last chunk whole, up to `end`. */
  accepted(end: number): void;
  /** After a failure: whether the blob, and its hash, can go on from the registry's `offset`. */
  resumeAt(offset: number): Promise<boolean>;
  /** The blob starts again from its first byte, in a new upload session. */
  restart(): void;
}

/** What a blob of known size gives: its size and its bytes from any offset. */
export type SizedBlob = Pick<Layer, 'size' | 'open'> & {
  readonly digest: string;
  /** Sees each body's bytes as they leave, with the offset they start at (a new layer's per-file hashes). */
  readonly sent?: (offset: number, piece: Buffer) => void;
};

function bodyHashing(verified: CommittedDigest, blob: SizedBlob, offset: number): (piece: Buffer) => void {
  const hash = verified.forBody();
  const sent = blob.sent;
  if (!sent) return hash;
  let at = offset;
  return (piece) => {
    hash(piece);
    sent(at, piece);
    at += piece.length;
  };
}

/**
 * A blob of known size, opened at each chunk's offset. `verified` hashes what the registry accepts;
 * `rereadable` says whether that hash may catch up by reading the blob again (our own files) after
 * the registry took part of a chunk, rather than start the blob over.
 */
export function sizedChunks(blob: SizedBlob, verified: CommittedDigest | undefined, rereadable: boolean): ChunkSource {
  return {
    name: blob.digest,
    async chunk(offset, max) {
      if (offset >= blob.size) return undefined;
      const length = Math.min(max, blob.size - offset);
      return { length, open: () => blob.open(offset, offset + length), ...(verified ? { hashing: () => bodyHashing(verified, blob, offset) } : {}) };
    },
    accepted: (end) => verified?.accepted(end),
    async resumeAt(offset) {
      if (!verified || verified.resumesAt(offset)) return true;
      return rereadable && verified.catchUp(offset, (from) => blob.open(from));
    },
    restart: () => verified?.restart(),
  };
}
