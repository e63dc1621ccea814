/**
 * A GET against the deployed app through its public address: the rollout being complete says the
 * pods are ready, this says users can reach them (load balancer rules, health probe, app routes).
 * Through the network layer (the agent's proxy, the task's cancel), each attempt within timeoutMs,
 * attempts spaced by the one retry pause. Redirects are followed, never from https to http.
 */
import { TaskError } from '../errors';
import type { Log } from '../log';
import { HttpStatusError, NetworkError, StoppedError } from '../net/errors';
import type { Network } from '../net/network';
import { MAX_REDIRECTS, redirectHop } from '../net/origin';
import { retry, retryPolicy } from '../net/retry';
import { withoutQuery } from '../redact';

export interface SmokeTestOptions {
  readonly attempts: number;
  readonly intervalMs: number;
  /** Per request. */
  readonly timeoutMs: number;
  readonly log: Log;
  readonly network: Network;
  readonly signal?: AbortSignal;
}

export interface SmokeTestResult {
  readonly status: number;
  readonly attempts: number;
}

/** One attempt: the final status of a GET, following redirects; a non-2xx status is thrown as an HttpStatusError. */
async function probe(url: URL, options: SmokeTestOptions, redirectsLeft = MAX_REDIRECTS): Promise<number> {
  const deadline = options.timeoutMs;
  const response = await options.network.send({
    method: 'GET', url, signal: options.signal, deadlines: { connectMs: deadline, responseMs: deadline, idleMs: deadline, bodyMs: deadline },
  });
  const location = response.header('location');
  if (response.status >= 300 && response.status < 400 && location && redirectsLeft > 0) {
    await response.discard();
    return probe(redirectHop(url, location).url, options, redirectsLeft - 1);
  }
  if (response.status < 200 || response.status >= 300) throw await response.statusError();
  // Read (or drop) the body so the connection is free for the next attempt.
  await response.discard();
  return response.status;
}

/** What the last attempt got, in a few words: "HTTP 503", "ECONNREFUSED", "no answer within 10000 ms". */
function problemOf(error: unknown, timeoutMs: number): string {
  if (error instanceof HttpStatusError) return `HTTP ${error.status}`;
  if (error instanceof NetworkError) return error.phase ? `no answer within ${timeoutMs} ms` : error.code;
  return error instanceof Error ? error.message : String(error);
}

/** Resolves on the first 2xx; throws a TaskError naming the URL and the last problem otherwise. */
export async function smokeTest(url: string, options: SmokeTestOptions): Promise<SmokeTestResult> {
  const shown = withoutQuery(url);
  const attempts = Math.max(1, options.attempts);
  const policy = retryPolicy({ attempts, baseDelayMs: options.intervalMs, maxDelayMs: options.intervalMs });
  const report = (attempt: number, error: unknown) => options.log.debug(`smoke test ${attempt}/${attempts} of ${shown}: ${problemOf(error, options.timeoutMs)}`);
  let made = 0;
  try {
    const status = await retry(() => {
      made += 1;
      return probe(new URL(url), options);
    }, policy, {
      signal: options.signal,
      // A fresh load balancer answers 502/503 or refuses for a while: every failure is worth another attempt.
      classify: (error) => (error instanceof StoppedError ? 'fail' : 'retry'),
      onRetry: ({ attempt, error }) => report(attempt, error),
    });
    options.log.info('DeploySmokeTestPassed', shown, status, made);
    return { status, attempts: made };
  } catch (error) {
    if (error instanceof StoppedError) throw error;
    report(made, error);
    throw new TaskError('DeploySmokeTestFailed', [shown, made, problemOf(error, options.timeoutMs)]);
  }
}
