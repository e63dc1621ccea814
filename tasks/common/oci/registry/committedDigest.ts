/**
 * The hash of the bytes a registry holds of a blob being uploaded, for a blob whose digest a peer
 * claimed (a base layer streamed from another registry). Each chunk is hashed as it is sent, into
 * a copy that counts only once the registry accepted the chunk; when the registry reports a
 * different amount, the hash is brought to that offset by reading the blob again. Once the last
 * byte is accepted, the hash must be the digest, or the blob is never committed.
 */
import type { Hash } from 'node:crypto';
import { assertDigest, finishDigest, hasherFor } from '../digest';
import type { Layer } from '../layer';
import { sliceOf } from './blobSlice';

export class CommittedDigest {
  private offset = 0;
  private hash: Hash;
  private pending: Hash | undefined;

  constructor(
    private readonly layer: Layer,
    /** registry/repository the blob comes from, for messages. */
    private readonly image: string,
  ) {
    this.hash = hasherFor(layer.digest);
  }

  /** A hasher for one body sent from the committed offset; a body sent again starts from a fresh copy. */
  forBody(): (piece: Buffer) => void {
    const pending = this.hash.copy();
    this.pending = pending;
    return (piece) => pending.update(piece);
  }

  /** The registry accepted the last body: its bytes now count, up to `end`. */
  accepted(end: number): void {
    if (this.pending) this.hash = this.pending;
    this.pending = undefined;
    this.offset = end;
  }

  /** The registry holds `offset` bytes: hash exactly those, reading again what is not hashed yet. */
  async seek(offset: number): Promise<void> {
    this.pending = undefined;
    if (offset === this.offset) return;
    // Behind what is hashed: start again from the first byte. A read that fails changes nothing.
    const start = offset < this.offset ? 0 : this.offset;
    const hash = start === 0 ? hasherFor(this.layer.digest) : this.hash.copy();
    if (offset > start) {
      const slice = sliceOf(this.layer.open(start), { count: offset - start, digest: this.layer.digest, from: this.image, onPiece: (piece) => hash.update(piece) });
      for await (const _piece of slice) {
        // hashed by onPiece
      }
    }
    this.hash = hash;
    this.offset = offset;
  }

  /** Throws naming the image and both digests unless the whole blob was hashed and matches. */
  check(): void {
    assertDigest({ key: 'LayerDigestMismatch', image: this.image }, this.layer.digest, finishDigest(this.layer.digest, this.hash.copy()));
  }
}
