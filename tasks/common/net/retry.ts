/**
 * The one retry policy: a bounded number of attempts, exponential back-off with jitter, Retry-After
 * honoured up to a cap, and an abortable pause, so a cancel or the task's deadline ends the wait at
 * once. Whether to try again is decided from typed errors (see errors.ts), never from message text.
 */
import { HttpStatusError, type RetryVerdict, retryVerdict, stoppedBy } from './errors';

export interface RetryPolicy {
  /** Tries in all, the first included: 1 means no retry. */
  readonly attempts: number;
  /** The pause after the first failure; it doubles after each further one. */
  readonly baseDelayMs: number;
  /** No computed pause is longer than this. */
  readonly maxDelayMs: number;
  /** A Retry-After longer than this is shortened to it. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ attempts: 6, baseDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 });

/** The default policy with the given fields replaced: the one place defaults and options meet. */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  return Object.freeze({ ...DEFAULT_RETRY_POLICY, ...given });
}

/** As a task's `retries` input counts: retries after the first attempt. */
export function policyForRetries(retries: number, overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return retryPolicy({ ...overrides, attempts: retries + 1 });
}

export interface RetryFailure {
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly attempts: number;
  readonly error: unknown;
  readonly delayMs: number;
}

export interface RetryContext {
  /** The task's cancel and deadline: a pause ends at once when it aborts. */
  readonly signal?: AbortSignal;
  /** Told before each pause, for a log line. */
  readonly onRetry?: (failure: RetryFailure) => void;
  /** A caller's own verdict on errors it understands; undefined leaves it to the policy. */
  readonly classify?: (error: unknown) => RetryVerdict | undefined;
}

/** The pause before attempt `attempt + 1`: doubling from the base, capped, with jitter in [50%, 100%]. */
export function backoffDelay(policy: RetryPolicy, attempt: number, error: unknown, random: () => number = Math.random): number {
  const computed = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + random() / 2);
  const after = retryAfterOf(error);
  const asked = after !== undefined ? Math.min(after, policy.maxRetryAfterMs) : 0;
  return Math.round(Math.max(computed, asked));
}

/**
 * Runs `operation` until it succeeds, fails with an error the policy will not retry, or runs out of
 * attempts; the last error is thrown as it is. A deadline miss ('retryOnce') is retried only once.
 */
export async function retry<T>(operation: (attempt: number) => Promise<T>, policy: RetryPolicy, context: RetryContext = {}): Promise<T> {
  let deadlineMisses = 0;
  for (let attempt = 1; ; attempt++) {
    if (context.signal?.aborted) throw stoppedBy(context.signal);
    try {
      return await operation(attempt);
    } catch (error) {
      if (context.signal?.aborted) throw stoppedBy(context.signal);
      const verdict = context.classify?.(error) ?? retryVerdict(error);
      if (verdict === 'retryOnce') deadlineMisses += 1;
      const giveUp = verdict === 'fail' || (verdict === 'retryOnce' && deadlineMisses > 1) || attempt >= policy.attempts;
      if (giveUp) throw error;
      const delayMs = backoffDelay(policy, attempt, error);
      context.onRetry?.({ attempt, attempts: policy.attempts, error, delayMs });
      await pause(delayMs, context.signal);
    }
  }
}

/** Waits `ms`, or less when the signal aborts (then it throws the StoppedError). The one wait helper. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(stoppedBy(signal));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    const stop = () => {
      clearTimeout(timer);
      reject(stoppedBy(signal!));
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/**
 * The pause a peer asked for: from our own status errors, or from a REST client's error that the
 * network adapter marked with the answer's Retry-After (net/adapters/devopsHttp.ts).
 */
export function retryAfterOf(error: unknown): number | undefined {
  if (error instanceof HttpStatusError) return error.retryAfterMs;
  const marked = (error as { [RETRY_AFTER]?: unknown } | undefined)?.[RETRY_AFTER];
  return typeof marked === 'number' ? marked : undefined;
}

/** Where an adapter records Retry-After on an error it does not own. */
export const RETRY_AFTER = Symbol('retryAfterMs');

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
