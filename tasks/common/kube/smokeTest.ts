/**
 * A GET against the deployed app through its public address: the rollout being complete says the
 * pods are ready, this says users can reach them (load balancer rules, health probe, app routes).
 */
import { TaskError } from '../errors';
import type { Log } from '../log';
import { withoutQuery } from '../redact';

export interface SmokeTestOptions {
  readonly attempts: number;
  readonly intervalMs: number;
  /** Per request. */
  readonly timeoutMs: number;
  readonly log: Log;
}

export interface SmokeTestResult {
  readonly status: number;
  readonly attempts: number;
}

type Outcome = { readonly ok: true; readonly status: number } | { readonly ok: false; readonly problem: string };

async function attempt(url: string, timeoutMs: number): Promise<Outcome> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
    // Read the body so the connection is released before the next attempt.
    await response.arrayBuffer().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
    return { ok: false, problem: `HTTP ${response.status} ${response.statusText}`.trim() };
  } catch (error) {
    return { ok: false, problem: networkProblem(error, timeoutMs) };
  }
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a TLS error) is in its cause. */
function networkProblem(error: unknown, timeoutMs: number): string {
  const failure = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (failure.name === 'TimeoutError' || failure.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const cause = failure.cause;
  if (cause?.code) return `${cause.code}${cause.message && !cause.message.includes(cause.code) ? ` (${cause.message})` : ''}`;
  return cause?.message ?? failure.message ?? String(error);
}

/** Resolves on the first 2xx; throws a TaskError naming the URL and the last problem otherwise. */
export async function smokeTest(url: string, options: SmokeTestOptions): Promise<SmokeTestResult> {
  const shown = withoutQuery(url);
  const attempts = Math.max(1, options.attempts);
  let problem = '';
  for (let number = 1; number <= attempts; number += 1) {
    const outcome = await attempt(url, options.timeoutMs);
    if (outcome.ok) {
      options.log.info('DeploySmokeTestPassed', shown, outcome.status, number);
      return { status: outcome.status, attempts: number };
    }
    problem = outcome.problem;
    options.log.debug(`smoke test ${number}/${attempts} of ${shown}: ${problem}`);
    if (number < attempts) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  throw new TaskError('DeploySmokeTestFailed', [shown, attempts, problem]);
}
