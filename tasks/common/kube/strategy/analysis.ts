/**
 * A canary step's analysis, pure: the pod signals of the canary pods (restarts, OOMKilled,
 * readiness flaps, Warning events), the HTTP samples each track answered, the step's verdict, the
 * run's decision and the JSON report. Nothing here talks to the cluster: the strategy observes, this
 * module judges, so every rule can be tested on plain objects.
 */
import type { EventLike, PodLike } from '../diagnostics';
import type { CanaryStep, StepSize } from './steps';
import {
  type ComparisonOptions,
  DEFAULT_COMPARISON,
  type ErrorRateCheck,
  type LatencyCheck,
  type TrackSamples,
  type Verdict,
  combineVerdicts,
  compareErrorRate,
  compareLatency,
} from './statistics';

/** A pod as one observation saw it: PodLike plus the Ready condition. */
export interface PodSnapshot extends PodLike {
  readonly status?: PodLike['status'] & { readonly conditions?: readonly { readonly type?: string; readonly status?: string }[] };
}

export interface PodSignalsCheck {
  readonly check: 'podSignals';
  readonly verdict: Verdict;
  readonly pods: number;
  /** Container restarts during the step (restart counts at the end minus at the start). */
  readonly restarts: number;
  readonly oomKilled: number;
  /** Ready → not ready transitions between observations. */
  readonly readinessFlaps: number;
  /** Warning events of the canary pods, one line per (reason, message). */
  readonly warnings: readonly string[];
}

function podKey(pod: PodSnapshot): string {
  return pod.metadata?.uid ?? pod.metadata?.name ?? '';
}

function restartCount(pod: PodSnapshot): number {
  return (pod.status?.containerStatuses ?? []).reduce((sum, status) => sum + (status.restartCount ?? 0), 0);
}

function isOomKilled(pod: PodSnapshot): boolean {
  return (pod.status?.containerStatuses ?? []).some(
    (status) => status.state?.terminated?.reason === 'OOMKilled' || status.lastState?.terminated?.reason === 'OOMKilled',
  );
}

function isReady(pod: PodSnapshot): boolean {
  return (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

/**
 * Judges the canary pods over the step from successive observations (oldest first) and the Warning
 * events involving them. A pod that appears mid-step counts its restarts from its first observation.
 * Any restart, OOMKilled container, readiness flap or Warning event fails the step: the canary is a
 * new model on a slice of real traffic, and a pod that misbehaves is reason enough to stop.
 */
export function podSignals(observations: readonly (readonly PodSnapshot[])[], events: readonly EventLike[]): PodSignalsCheck {
  const firstRestarts = new Map<string, number>();
  const lastRestarts = new Map<string, number>();
  const wasReady = new Map<string, boolean>();
  const oom = new Set<string>();
  let readinessFlaps = 0;
  for (const pods of observations) {
    for (const pod of pods) {
      const key = podKey(pod);
      if (!firstRestarts.has(key)) firstRestarts.set(key, restartCount(pod));
      lastRestarts.set(key, restartCount(pod));
      if (isOomKilled(pod)) oom.add(key);
      const ready = isReady(pod);
      if (wasReady.get(key) === true && !ready) readinessFlaps++;
      wasReady.set(key, ready);
    }
  }
  let restarts = 0;
  for (const [key, last] of lastRestarts) restarts += Math.max(0, last - (firstRestarts.get(key) ?? last));
  const podNames = new Set<string>();
  for (const pods of observations) for (const pod of pods) if (pod.metadata?.name) podNames.add(pod.metadata.name);
  const warnings = [
    ...new Set(
      events
        .filter((event) => event.type === 'Warning' && event.involvedObject?.kind === 'Pod' && podNames.has(event.involvedObject.name ?? ''))
        .map((event) => `${event.involvedObject?.name}: ${event.reason ?? ''} ${event.message ?? ''}`.trim()),
    ),
  ];
  const failed = restarts > 0 || oom.size > 0 || readinessFlaps > 0 || warnings.length > 0;
  return { check: 'podSignals', verdict: failed ? 'fail' : 'pass', pods: lastRestarts.size, restarts, oomKilled: oom.size, readinessFlaps, warnings };
}

/** The model identity check and the golden requests on the canary pods: pass, or fail with the reason. */
export interface ModelCheck {
  readonly check: 'model';
  readonly verdict: 'pass' | 'fail';
  readonly detail?: string;
}

export type Track = 'canary' | 'baseline';

/** Collects the answers of the replayed golden requests, per track. */
export class TrackRecorder {
  private readonly tracks: Record<Track, { latenciesMs: number[]; requests: number; errors: number }> = {
    canary: { latenciesMs: [], requests: 0, errors: 0 },
    baseline: { latenciesMs: [], requests: 0, errors: 0 },
  };

  /**
   * One request's outcome. An error is no answer, a 5xx, or an answer that is not the expected one;
   * latency counts only for requests that got an HTTP answer (a refused connection has none).
   */
  record(track: Track, outcome: { readonly latencyMs?: number; readonly ok: boolean }): void {
    const samples = this.tracks[track];
    samples.requests++;
    if (!outcome.ok) samples.errors++;
    if (outcome.latencyMs !== undefined) samples.latenciesMs.push(outcome.latencyMs);
  }

  samples(track: Track): TrackSamples {
    const samples = this.tracks[track];
    return { latenciesMs: [...samples.latenciesMs], requests: samples.requests, errors: samples.errors };
  }
}

/** How many requests a step sends to each track: the rate for the whole step, at least one. */
export function plannedRequests(requestsPerSecond: number, step: CanaryStep): number {
  return Math.max(1, Math.floor(requestsPerSecond * step.seconds));
}

export interface StepReport {
  readonly index: number;
  readonly percent: number;
  readonly seconds: number;
  readonly replicas: number;
  readonly canaryShare: number;
  readonly verdict: Verdict;
  readonly checks: readonly (PodSignalsCheck | ModelCheck | LatencyCheck | ErrorRateCheck)[];
  readonly samples: { readonly canary: TrackSamples; readonly baseline: TrackSamples };
}

type StepCheck = StepReport['checks'][number];

/** A step's check of one kind, typed as that kind (judgeStep puts one of each in every step). */
export function checkOf<Kind extends StepCheck['check']>(step: StepReport, kind: Kind): Extract<StepCheck, { check: Kind }> | undefined {
  return step.checks.find((check): check is Extract<StepCheck, { check: Kind }> => check.check === kind);
}

/** One step's verdict from everything observed during it. */
export function judgeStep(
  index: number,
  step: CanaryStep,
  size: StepSize,
  pods: PodSignalsCheck,
  model: ModelCheck,
  canary: TrackSamples,
  baseline: TrackSamples,
  options: ComparisonOptions = DEFAULT_COMPARISON,
): StepReport {
  const checks = [pods, model, compareErrorRate(canary, baseline, options), compareLatency(canary, baseline, options)];
  return {
    index,
    percent: step.percent,
    seconds: step.seconds,
    replicas: size.replicas,
    canaryShare: size.canaryShare,
    verdict: combineVerdicts(checks.map((check) => check.verdict)),
    checks,
    samples: { canary, baseline },
  };
}

export type OnInconclusive = 'abort' | 'promote';
/** The `verdict` output: pending while a canary waits for a decision (canaryDecision manual). */
export type Outcome = 'promoted' | 'aborted' | 'inconclusive' | 'pending';

export interface Decision {
  readonly action: 'promote' | 'abort' | 'continue';
  readonly outcome?: Outcome;
}

/**
 * What to do after a step: a failed step aborts at once, an inconclusive one aborts (outcome
 * `inconclusive`) unless onInconclusive is promote, a passed one goes on to the next step, and a
 * passed last step promotes. Later steps never rescue an earlier failure.
 */
export function decide(step: StepReport, last: boolean, onInconclusive: OnInconclusive): Decision {
  if (step.verdict === 'fail') return { action: 'abort', outcome: 'aborted' };
  if (step.verdict === 'inconclusive') {
    return onInconclusive === 'promote' ? { action: 'promote', outcome: 'promoted' } : { action: 'abort', outcome: 'inconclusive' };
  }
  return last ? { action: 'promote', outcome: 'promoted' } : { action: 'continue' };
}

export interface AnalysisReport {
  readonly strategy: 'canary';
  readonly deployment: string;
  readonly namespace: string;
  /**
   * none: there was no stable Deployment to compare a canary with (a first deploy), so the image was
   * rolled out directly: no step ran, stableImage is empty, the verdict is promoted.
   */
  readonly baseline?: 'none';
  readonly stableImage: string;
  readonly canaryImage: string;
  readonly options: ComparisonOptions & { readonly requestsPerSecond: number; readonly onInconclusive: OnInconclusive };
  readonly steps: readonly StepReport[];
  readonly verdict: Outcome;
  /** With verdict pending: what the analysis would have done by itself. */
  readonly recommendation?: 'promote' | 'abort';
}

/** The analysisReport file's text: stable key order, two-space indent, a final newline. */
export function reportText(report: AnalysisReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
