/**
 * The failures of one exchange with a peer, as types: the retry policy decides from these, never
 * from message text. Each names the peer as `host[:port]` only (no user info, path or query).
 */

/** Which deadline ran out. */
export type DeadlinePhase = 'connect' | 'response' | 'idle' | 'body';

/** No complete answer: the connection broke, was refused, or a per-request deadline ran out. */
export class NetworkError extends Error {
  constructor(
    /** host[:port] of the peer, or of the proxy when the proxy failed. */
    readonly peer: string,
    /** The socket error code (ECONNRESET, ECONNREFUSED, CERT_HAS_EXPIRED, ...) or ETIMEDOUT for a deadline. */
    readonly code: string,
    message: string,
    readonly phase?: DeadlinePhase,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

/** A peer's answer with an error status. The body is summarized on one line, never kept whole. */
export class HttpStatusError extends Error {
  constructor(
    readonly peer: string,
    readonly status: number,
    /** One line of the body, already bounded; peer text, so print it only through the output boundary. */
    readonly detail: string,
    /** From Retry-After, when the peer sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(`${peer} answered HTTP ${status}${detail ? `: ${detail}` : ''}`);
    this.name = 'HttpStatusError';
  }
}

/** A body larger than we are willing to hold in memory. */
export class BodyTooLargeError extends Error {
  constructor(
    readonly peer: string,
    readonly limit: number,
    readonly what: string,
  ) {
    super(`${what} from ${peer} is larger than the ${limit} bytes allowed`);
    this.name = 'BodyTooLargeError';
  }
}

/** The proxy refused to carry the request (407, or a CONNECT it would not open). */
export class ProxyError extends Error {
  constructor(
    readonly proxy: string,
    readonly status: number,
    readonly target: string,
  ) {
    super(`proxy ${proxy} answered ${status} for ${target}`);
    this.name = 'ProxyError';
  }
}

/** A credential was about to travel somewhere it does not belong: refused before it left. */
export class CredentialScopeError extends Error {
  constructor(
    readonly from: string,
    readonly to: string,
    readonly why: string,
  ) {
    super(`refused to send credentials for ${from} to ${to}: ${why}`);
    this.name = 'CredentialScopeError';
  }
}

/** The task's overall time ran out, or the agent cancelled the job. Never retried. */
export class StoppedError extends Error {
  constructor(readonly reason: 'deadline' | 'cancelled', message: string) {
    super(message);
    this.name = 'StoppedError';
  }
}

/** Socket errors that a new attempt may cure. TLS trust failures and unknown hosts will not heal. */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNABORTED', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EPROTO_TRUNCATED']);

/** Statuses worth another attempt: time-outs, throttling and server faults (not 501 or 505). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** The retry policy's one question about an error. */
export type RetryVerdict = 'retry' | 'retryOnce' | 'fail';

/**
 * How a failure should be treated. A peer that misses a deadline gets one more chance only, so a
 * server that never answers costs two deadlines, not a whole retry budget.
 */
export function retryVerdict(error: unknown): RetryVerdict {
  if (error instanceof StoppedError) return 'fail';
  if (error instanceof HttpStatusError) return isRetryableStatus(error.status) ? 'retry' : 'fail';
  if (error instanceof NetworkError) {
    if (error.phase !== undefined) return 'retryOnce';
    return TRANSIENT_CODES.has(error.code) ? 'retry' : 'fail';
  }
  return 'fail';
}

/** A stop reason carried by an AbortSignal, or a StoppedError made from its reason. */
export function stoppedBy(signal: AbortSignal): StoppedError {
  const reason: unknown = signal.reason;
  if (reason instanceof StoppedError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new StoppedError('deadline', 'the time allowed for the task ran out');
  return new StoppedError('cancelled', 'the task was cancelled');
}
