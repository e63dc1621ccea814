/**
 * The hash of the bytes a registry holds of a blob being uploaded. Each body is hashed as it is
 * sent, into a copy that counts only once the registry accepted the whole body, so the hash always
 * covers exactly the bytes the registry took, from the very reads that carried them.
 *
 * Two uses: a blob whose digest a peer claimed (a base layer streamed from another registry), which
 * must match that digest before it is committed, and which starts again from its first byte when
 * the registry holds any other amount; and a model layer whose digest is not known yet, which is
 * learnt from the upload itself (one read of the model), and whose hash catches up by re-reading
 * from disk only the part the registry holds beyond what was counted.
 */
import type { Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { assertDigest, finishDigest, hasherFor } from '../digest';
import type { Layer } from '../layer';

export class CommittedDigest {
  private offset = 0;
  private hash: Hash;
  private pending: Hash | undefined;

  constructor(
    /** The blob's claimed digest, or 'sha256:' alone for a blob whose digest is learnt from the upload. */
    private readonly layer: Pick<Layer, 'digest'>,
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

  /**
   * Brings the hash to `offset`, where the registry says it stands, by reading the blob again from
   * the counted bytes (or from the first byte, when the registry holds fewer than were counted).
   */
  async catchUp(offset: number, open: (offset: number) => Readable): Promise<boolean> {
    this.pending = undefined;
    if (offset < this.offset) this.restart();
    const hash = this.hash.copy();
    let left = offset - this.offset;
    if (left > 0) {
      for await (const chunk of open(this.offset) as AsyncIterable<Buffer>) {
        const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
        hash.update(piece);
        left -= piece.length;
        if (left === 0) break;
      }
    }
    if (left > 0) return false; // the blob ends before the registry's count: start it again
    this.hash = hash;
    this.offset = offset;
    return true;
  }

  /** The digest of the bytes accepted so far. */
  digest(): string {
    return finishDigest(this.layer.digest, this.hash.copy());
  }

  /** Throws naming the image and both digests unless the bytes accepted are the blob the digest names. */
  check(): void {
    assertDigest({ key: 'LayerDigestMismatch', image: this.image }, this.layer.digest, this.digest());
  }
}
