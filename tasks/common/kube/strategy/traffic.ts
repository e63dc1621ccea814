/**
 * The canary's comparison traffic: the task's own golden requests, replayed for the length of a step
 * at a steady rate to BOTH tracks at once, each request to one pod of the track through the API
 * server's pod proxy. Sending to named pods rather than through the Service makes every sample
 * attributable (the Service would pick a track by chance), and sending the same request to both
 * tracks at the same moment keeps the comparison fair: the two samples see the same load.
 *
 * An answer is an error when the pod gave none, answered outside 2xx, or answered other than the
 * golden file expects; its latency is kept whenever an HTTP answer came back.
 */
import { StoppedError } from '../../net/errors';
import { pause } from '../../net/retry';
import type { Cluster } from '../cluster';
import { type GoldenRequest, compareAnswer } from '../goldenRequests';
import { type PodReply, type ServingPod, callPod } from '../podProxy';
import { type Track, TrackRecorder, plannedRequests } from './analysis';
import type { CanaryStep } from './steps';

export interface ReplaySettings {
  readonly requests: readonly GoldenRequest[];
  /** Requests per second sent to each track. */
  readonly requestsPerSecond: number;
  /** Per request. */
  readonly timeoutMs: number;
}

type Outcome = { readonly latencyMs?: number; readonly ok: boolean };

async function ask(cluster: Cluster, pod: ServingPod & { port: number }, request: GoldenRequest, timeoutMs: number): Promise<Outcome> {
  let reply: PodReply;
  try {
    reply = await callPod(cluster, pod, pod.port, request, timeoutMs);
  } catch (error) {
    if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
    if (cluster.signal.aborted) throw error;
    return { ok: false };
  }
  const ok = reply.status >= 200 && reply.status < 300 && compareAnswer(request.expect, reply.body, request.tolerance) === undefined;
  return { latencyMs: reply.elapsedMs, ok };
}

/**
 * Sends plannedRequests(rate, step) requests to each track, paced over the step, the golden
 * requests in turn and the pods of each track in turn. A track with no pod that has a port gets
 * every request counted as an error: a canary with nothing to ask is not a healthy canary.
 */
export async function replayTraffic(
  cluster: Cluster,
  pods: Readonly<Record<Track, readonly ServingPod[]>>,
  step: CanaryStep,
  settings: ReplaySettings,
  recorder: TrackRecorder = new TrackRecorder(),
): Promise<TrackRecorder> {
  const count = plannedRequests(settings.requestsPerSecond, step);
  const intervalMs = 1000 / settings.requestsPerSecond;
  const reachable = {
    canary: pods.canary.filter((pod): pod is ServingPod & { port: number } => pod.port !== undefined),
    baseline: pods.baseline.filter((pod): pod is ServingPod & { port: number } => pod.port !== undefined),
  };
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = started + i * intervalMs - performance.now();
    if (wait > 0) await pause(wait, cluster.signal);
    const request = settings.requests[i % settings.requests.length]!;
    await Promise.all((['canary', 'baseline'] as const).map(async (track) => {
      const targets = reachable[track];
      const outcome = targets.length === 0 ? { ok: false } : await ask(cluster, targets[i % targets.length]!, request, settings.timeoutMs);
      recorder.record(track, outcome);
    }));
  }
  return recorder;
}
