/**
 * Exactly `count` bytes of a blob's stream: an upload chunk never sends more than its
 * Content-Range says, and a blob that ends early fails instead of sending a short chunk.
 */
import { Transform, type Readable } from 'node:stream';
import { IntegrityError } from '../../errors';

export interface SliceOptions {
  readonly count: number;
  /** Names the blob when it ends early: its digest and where it comes from. */
  readonly digest: string;
  readonly from: string;
  /** Every piece as it passes, in order (progress, hashing). */
  readonly onPiece: (piece: Buffer) => void;
}

export function sliceOf(source: Readable, options: SliceOptions): Readable {
  let left = options.count;
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (left <= 0) return done();
      const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= piece.length;
      options.onPiece(piece);
      done(null, piece);
      if (left === 0) {
        this.push(null);
        source.destroy();
      }
    },
    flush(done) {
      done(left > 0 ? new IntegrityError('BlobEndedEarly', [options.digest, options.from, left]) : undefined);
    },
  });
  source.on('error', (error) => limiter.destroy(error));
  // However the slice ends (done, failed, dropped by a failed request), its source goes too.
  limiter.once('close', () => source.destroy());
  return source.pipe(limiter);
}
