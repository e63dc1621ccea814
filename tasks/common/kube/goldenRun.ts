/**
 * Golden predictions, sent: each request of the golden file to one new pod through the pod proxy
 * before the rollout is declared done, then once more through the load balancer. The first answer
 * that differs from its `expect` (or that is not 2xx) fails the pass, and so does a p95 latency over
 * maxLatencyMs. Messages show the request, the expected and the actual answer, truncated and masked.
 */
import { BODY_LIMITS } from '../net/body';
import { StoppedError } from '../net/errors';
import type { Network } from '../net/network';
import type { Log } from '../log';
import { format } from '../messages';
import { withoutQuery } from '../redact';
import { describeFailure } from './apiCall';
import { type GoldenRequest, type GoldenSettings, compareAnswer, p95 } from './goldenRequests';
import { shown } from './modelCheck';
import { type PodReply, answerOf } from './podProxy';

export type GoldenSender = (request: GoldenRequest) => Promise<PodReply>;

export interface GoldenOutcome {
  readonly failure?: string;
  readonly p95Ms: number;
}

function describe(request: GoldenRequest): string {
  return `${request.method} ${request.path}${request.body === undefined ? '' : ` ${shown(request.body, 300)}`} (${request.where})`;
}

/** A value as JSON for a message ("churn" quoted, nothing as such), masked and truncated. */
function asJson(value: unknown): string {
  return value === undefined ? 'nothing' : shown(JSON.stringify(value));
}

/** Sends every request in order through `send`; `via` says where they went ("pod 'app-1'", "http://..."). */
export async function runGoldenRequests(send: GoldenSender, settings: GoldenSettings, via: string, log: Log): Promise<GoldenOutcome> {
  const latencies: number[] = [];
  for (const request of settings.requests) {
    let reply: PodReply;
    try {
      reply = await send(request);
    } catch (error) {
      if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
      return { failure: format('DeployGoldenNoAnswer', describe(request), via, describeFailure(error)), p95Ms: p95(latencies) };
    }
    latencies.push(reply.elapsedMs);
    const mismatch = reply.status >= 200 && reply.status < 300
      ? compareAnswer(request.expect, reply.body, request.tolerance)
      : { at: `HTTP ${reply.status}`, expected: request.expect, actual: reply.body };
    if (mismatch) {
      const tolerance = typeof mismatch.expected === 'number' && request.tolerance > 0 ? ` (tolerance ${request.tolerance})` : '';
      return {
        failure: format('DeployGoldenMismatch', describe(request), via, mismatch.at, asJson(mismatch.expected), tolerance, asJson(mismatch.actual), shown(reply.body, 400)),
        p95Ms: p95(latencies),
      };
    }
  }
  const p95Ms = Math.round(p95(latencies));
  if (settings.maxLatencyMs !== undefined && p95Ms > settings.maxLatencyMs) {
    return { failure: format('DeployGoldenTooSlow', settings.requests.length, via, p95Ms, settings.maxLatencyMs), p95Ms };
  }
  log.info('DeployGoldenPassed', settings.requests.length, via, p95Ms);
  return { p95Ms };
}

/** A sender to the app's public address, through the network layer (the agent's proxy, the cancel). */
export function addressSender(baseUrl: string, network: Network, signal: AbortSignal | undefined, timeoutMs: number): GoldenSender {
  return async (request) => {
    const url = new URL(request.path, baseUrl);
    const started = performance.now();
    const response = await network.send({
      method: request.method, url, signal,
      headers: request.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      deadlines: { connectMs: timeoutMs, responseMs: timeoutMs, idleMs: timeoutMs, bodyMs: timeoutMs },
    });
    const text = await response.text(BODY_LIMITS.json, `the answer to ${request.method} ${withoutQuery(url.toString())}`);
    return { status: response.status, body: answerOf(text), elapsedMs: performance.now() - started };
  };
}
