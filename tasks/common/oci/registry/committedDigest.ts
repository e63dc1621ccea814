/**
 * The hash of the bytes a registry holds of a blob being uploaded, for a blob whose digest a peer
 * claimed (a base layer streamed from another registry). Each body is hashed as it is sent, into a
 * copy that counts only once the registry accepted the whole body, so the hash always covers
 * exactly the bytes the registry took, from the very reads that carried them. When the registry
 * holds any other amount, the hash cannot follow it: the blob starts again from its first byte.
 * Once the last byte is accepted, the hash must be the digest, or the blob is never committed.
 */
import type { Hash } from 'node:crypto';
import { assertDigest, finishDigest, hasherFor } from '../digest';
import type { Layer } from '../layer';

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

  /** A hasher for one body sent from the accepted offset; a body sent again starts from a fresh copy. */
  forBody(): (piece: Buffer) => void {
    const pending = this.hash.copy();
    this.pending = pending;
    return (piece) => pending.update(piece);
  }

  /** The registry accepted the last body whole: its bytes now count, up to `end`. */
  accepted(end: number): void {
    if (this.pending) this.hash = this.pending;
    this.pending = undefined;
    this.offset = end;
  }

  /** Whether an upload may go on from the registry's `offset`: only where the accepted bytes end. */
  resumesAt(offset: number): boolean {
    this.pending = undefined;
    return offset === this.offset;
  }

  /** The blob starts again from its first byte, in a new upload session. */
  restart(): void {
    this.hash = hasherFor(this.layer.digest);
    this.pending = undefined;
    this.offset = 0;
  }

  /** Throws naming the image and both digests unless the bytes accepted are the blob the digest names. */
  check(): void {
    assertDigest({ key: 'LayerDigestMismatch', image: this.image }, this.layer.digest, finishDigest(this.layer.digest, this.hash.copy()));
  }
}
