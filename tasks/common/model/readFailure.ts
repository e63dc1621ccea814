/**
 * Which failures of a ranged read are worth another attempt, decided from the error's type. The
 * S3 store reports them as the network layer's errors (NetworkError, HttpStatusError); the Blob
 * Storage SDK wraps its failures in RestError, judged here by its status or code, never by text.
 * A range that broke after it had started is always resumed: the bytes already written are kept.
 */
import { RestError } from '@azure/core-rest-pipeline';
import { NetworkError, type RetryVerdict, isRetryableStatus, retryVerdict } from '../net/errors';

/** A ranged read that stopped before its last byte: cut, stalled, or ended early. */
export class RangeInterrupted extends NetworkError {
  constructor(peer: string, code: string, message: string, options?: { cause?: unknown; idle?: boolean }) {
    super(peer, code, message, options?.idle ? 'idle' : undefined);
    this.name = 'RangeInterrupted';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Codes core-rest-pipeline gives a request that never got an answer. */
const UNANSWERED_REST_CODES = new Set(['REQUEST_SEND_ERROR', 'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED']);

export function classifyReadFailure(error: unknown): RetryVerdict {
  if (error instanceof RangeInterrupted) return 'retry';
  if (error instanceof RestError) {
    if (error.statusCode !== undefined) return isRetryableStatus(error.statusCode) ? 'retry' : 'fail';
    return error.code !== undefined && UNANSWERED_REST_CODES.has(error.code) ? 'retry' : 'fail';
  }
  return retryVerdict(error);
}
