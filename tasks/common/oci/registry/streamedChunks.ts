/**
 * A blob whose length is known only once it has been read to its end: a layer compressed as it is
 * sent. It is read once, from its first byte, one chunk at a time (a PATCH needs its length before
 * it starts), and the chunk stays in memory until the registry has taken it, so a cut connection
 * resends from memory the part the registry lacks. Only when the registry holds less than the
 * chunk's start, or starts the blob over, is the blob read again from its first byte: its bytes
 * come out the same (gzip is deterministic), so the part the registry holds is hashed again and
 * skipped, and the rest is sent.
 *
 * That one read gives two digests: of the bytes the registry accepted (the blob's digest), and of
 * the bytes the blob is made from, which the blob's stream shows as it consumes them (an
 * uncompressed tar: the layer's diffId). A read from the first byte restarts both.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Chunk, ChunkSource } from './chunkSource';

/** A blob made from other bytes (a compressed tar), read from its first byte. */
export interface StreamedBlob {
  /** The blob's bytes; `source` sees every byte they are made from, in order, as it is consumed. */
  open(source: (piece: Buffer) => void): Readable;
}

const EMPTY = Buffer.alloc(0);

/** One read of the blob from its first byte, taken in exact counts. */
class Reading {
  /** The digest of the bytes the blob is made from, as far as this read has consumed them. */
  readonly source = createHash('sha256');
  /** Bytes of the blob taken so far. */
  at = 0;
  private readonly stream: Readable;
  private readonly pieces: AsyncIterator<Buffer>;
  private spare: Buffer | undefined;

  constructor(blob: StreamedBlob) {
    this.stream = blob.open((piece) => this.source.update(piece));
    this.pieces = this.stream[Symbol.asyncIterator]();
  }

  /** The next `count` bytes as they come, fewer only where the blob ends. */
  async *next(count: number): AsyncGenerator<Buffer> {
    for (let left = count; left > 0; ) {
      const piece = this.spare ?? (await this.pieces.next()).value as Buffer | undefined;
      this.spare = undefined;
      if (!piece) return;
      const taken = piece.length > left ? piece.subarray(0, left) : piece;
      if (taken !== piece) this.spare = piece.subarray(left);
      left -= taken.length;
      this.at += taken.length;
      yield taken;
    }
  }

  /** The next bytes into `into`, as many as it holds, fewer only where the blob ends. */
  async take(into: Buffer): Promise<Buffer> {
    let filled = 0;
    for await (const piece of this.next(into.length)) filled += piece.copy(into, filled);
    return into.subarray(0, filled);
  }

  close(): void {
    this.stream.destroy();
  }
}

export class StreamedChunks implements ChunkSource {
  private reading: Reading | undefined;
  /** The last chunk read, kept until the registry has it all; it starts at `heldAt`. */
  private held: Buffer = EMPTY;
  private heldAt = 0;
  /** The memory each chunk is read into, in turn: one chunk's worth for the whole upload. */
  private memory: Buffer | undefined;
  /** The digest of the bytes the registry accepted: [0, hashedTo). */
  private hash: Hash = createHash('sha256');
  private hashedTo = 0;

  constructor(
    private readonly blob: StreamedBlob,
    readonly name: string,
  ) {}

  async chunk(offset: number, max: number): Promise<Chunk | undefined> {
    // After a cut inside the held chunk, its rest is sent from memory.
    const rest = offset < this.heldAt + this.held.length ? this.held.subarray(offset - this.heldAt) : undefined;
    if (!rest) {
      this.held = EMPTY;
      this.heldAt = offset;
      const reading = (this.reading ??= new Reading(this.blob));
      // The held chunk is all accepted (no request still sends it), so its memory takes the next.
      if (this.memory?.length !== max) this.memory = Buffer.allocUnsafeSlow(max);
      this.held = await reading.take(this.memory).catch((error: unknown) => {
        this.restart(); // a read that failed cannot go on: a retry reads from the first byte
        throw error;
      });
    }
    const bytes = rest ?? this.held;
    return bytes.length === 0 ? undefined : { length: bytes.length, open: () => Readable.from([bytes]) };
  }

  accepted(end: number): void {
    this.hash.update(this.held.subarray(this.hashedTo - this.heldAt, end - this.heldAt));
    this.hashedTo = end;
  }

  async resumeAt(offset: number): Promise<boolean> {
    const heldEnd = this.heldAt + this.held.length;
    if (this.reading && this.hashedTo >= this.heldAt && offset >= this.hashedTo && offset <= heldEnd) {
      this.accepted(offset); // the registry kept part of the held chunk: that part now counts
      return true;
    }
    // Read again from the first byte: what the registry holds is hashed and skipped, not sent.
    this.restart();
    const reading = (this.reading = new Reading(this.blob));
    for await (const piece of reading.next(offset)) this.hash.update(piece);
    this.heldAt = this.hashedTo = reading.at;
    return reading.at === offset; // the blob ends before the registry's count: start it again
  }

  restart(): void {
    this.reading?.close();
    this.reading = undefined;
    this.held = EMPTY;
    this.heldAt = 0;
    this.hash = createHash('sha256');
    this.hashedTo = 0;
  }

  /** Once the registry holds the whole blob: its digest, the digest of what it is made from (a layer's diffId), and its size. */
  digests(): { digest: string; diffId: string; size: number } {
    const reading = this.reading;
    if (!reading || this.hashedTo !== reading.at) throw new Error(`${this.name}: the registry holds ${this.hashedTo} bytes of ${reading?.at ?? 0} read`);
    return { digest: `sha256:${this.hash.copy().digest('hex')}`, diffId: `sha256:${reading.source.copy().digest('hex')}`, size: reading.at };
  }
}
