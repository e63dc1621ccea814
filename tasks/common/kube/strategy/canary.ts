/**
 * The canary strategy for the generated workload (one Deployment and the generated Service): the
 * stable Deployment keeps serving and is never touched until the verdict. Next to it run
 * `<app>-canary` (the new image) and `<app>-baseline` (the stable image, with the same pod template
 * otherwise, so the image is the only difference), the same size, sized per step (steps.ts). Each
 * step proves the canary's model through the pod proxy (modelProof.ts), replays the golden requests
 * to both tracks (traffic.ts), watches the canary pods' signals, and judges (analysis.ts).
 *
 * Pass: canary and baseline are removed, then the new image is rolled out to the stable Deployment
 * by the ordinary rolling deploy (deployApp: rollout watch, model proof, address, smoke test).
 * Fail, or inconclusive without onInconclusive promote: canary and baseline are removed, and the
 * stable Deployment keeps its generation. With decision manual, a canary that did not fail is left
 * running at its last step instead, its state recorded for a later promote or abort (decision.ts).
 * On a dark (0 %) step neither track carries the label the Service selects, so no user request
 * reaches them.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { TaskError } from '../../errors';
import { cleanupSignal, withDeadline } from '../../lifetime';
import { format } from '../../messages';
import { describeFailure, kubeCall, kubeRead } from '../apiCall';
import { applyObjects } from '../apply';
import type { EventLike } from '../diagnostics';
import { type DeployContext, type DeployRequest, type DeployResult, type GeneratedApp, boundCluster, deployApp, rolloutPhase } from '../deploy';
import { MANAGED_BY_LABEL, MANAGER, NAME_LABEL, generateManifests } from '../generate';
import { provePods } from '../modelProof';
import { servingPods } from '../podProxy';
import type { DeploymentLike } from '../rolloutStatus';
import { watchRollout } from '../rolloutWatch';
import { withRunAnnotations } from '../traceability';
import { ANNOTATION_KEYS, type KubeObject, type ModelAnnotations } from '../types';
import {
  type AnalysisReport,
  type ModelCheck,
  type OnInconclusive,
  type Outcome,
  type PodSnapshot,
  type PodSignalsCheck,
  type StepReport,
  type Track,
  checkOf,
  decide,
  judgeStep,
  podSignals,
} from './analysis';
import { type ComparisonOptions, DEFAULT_COMPARISON } from './statistics';
import { CANARY_STATE_ANNOTATION, type CanaryState, encodeState, stateOf } from './canaryState';
import { type CanaryStep, stepSize } from './steps';
import { replayTraffic } from './traffic';

/** The track of a canary or baseline pod; stable pods have none. */
export const TRACK_LABEL = 'ai-model-delivery-tasks/track';
/** Which app a track belongs to: the tracks' own selector, apart from the stable Deployment's. */
export const TRACK_APP_LABEL = 'ai-model-delivery-tasks/app';

export interface CanarySettings {
  readonly steps: readonly CanaryStep[];
  /** Golden requests per second sent to each track during a step. */
  readonly requestsPerSecond: number;
  readonly onInconclusive: OnInconclusive;
  readonly comparison?: ComparisonOptions;
  /** manual: a canary that did not fail waits for a later promote or abort (default automatic). */
  readonly decision?: 'automatic' | 'manual';
}

export interface CanaryResult {
  readonly verdict: Outcome;
  /** With no stable Deployment to compare with, baseline none: the image was rolled out directly. */
  readonly report?: AnalysisReport;
  /** The rolling deploy's result after a promotion (or a first deploy). */
  readonly deployed?: DeployResult;
  /** The state recorded (verdict pending) or read back (a later promote or abort). */
  readonly state?: CanaryState;
}

export function trackName(app: string, track: Track): string {
  return `${app}-${track}`;
}

/** A track's Deployment: the generated one renamed, sized, selected by its track labels, served unless dark. */
export function trackDeployment(app: GeneratedApp, namespace: string, image: string, track: Track, replicas: number, served: boolean): KubeObject {
  const { deployment } = generateManifests({ ...app, namespace, image, replicas });
  const copy = structuredClone(deployment) as {
    metadata: { name: string; labels: Record<string, string> };
    spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } }; [key: string]: unknown };
  };
  const own = { [TRACK_LABEL]: track, [TRACK_APP_LABEL]: app.appName };
  copy.metadata.name = trackName(app.appName, track);
  copy.metadata.labels = { ...own, [MANAGED_BY_LABEL]: MANAGER };
  copy.spec.selector = { matchLabels: own };
  copy.spec.template.metadata.labels = served ? { ...own, [NAME_LABEL]: app.appName } : own;
  return copy as unknown as KubeObject;
}

/** The model the stable pods say they serve: the baseline carries it, not the canary's. */
export function stableModel(stable: DeploymentLike): ModelAnnotations {
  const annotations = stable.spec?.template?.metadata?.annotations ?? {};
  const model: Record<string, string> = {};
  for (const [field, key] of Object.entries(ANNOTATION_KEYS)) if (annotations[key] !== undefined) model[field] = annotations[key];
  return model;
}

/** The image a generated Deployment runs: its pod template's one container's. */
export function imageOf(deployment: DeploymentLike): string | undefined {
  return deployment.spec?.template?.spec?.containers?.[0]?.image;
}

/** A canary judged step by step, its tracks still running. */
interface JudgedCanary {
  /** The verdict is what the analysis decides by itself. */
  readonly report: AnalysisReport;
  readonly promote: boolean;
}

/**
 * Runs the canary and carries out its verdict. With `decision: manual`, a canary whose last step
 * did not fail is left running at that step, its state recorded on `<app>-canary` (canaryState.ts),
 * and the verdict is `pending`: a later run of the task promotes or aborts it (decision.ts). A
 * failure aborts either way: nobody needs to be asked to stop a canary that failed.
 */
export async function runCanary(options: DeployRequest, settings: CanarySettings, context: DeployContext): Promise<CanaryResult> {
  const judged = await runCanarySteps(options, settings, context);
  if (!judged) return { verdict: 'promoted', report: withoutBaseline(options, settings), deployed: await deployApp(options, context) };
  const { report } = judged;
  const failed = report.steps.at(-1)?.verdict === 'fail';
  if (settings.decision === 'manual' && !failed) return holdForDecision(options, settings, context, report);
  if (!judged.promote) {
    await removeTracks(context, options.namespace, report.deployment);
    context.log.warn('DeployCanaryAborted', options.image, report.verdict, report.deployment, report.stableImage);
    return { verdict: report.verdict, report };
  }
  context.log.info('DeployCanaryPromoting', report.verdict, options.image, report.deployment);
  return { verdict: report.verdict, report, deployed: await promoteCanary(options, context) };
}

/** The report of a first deploy: nothing ran to compare with, and it says so. */
function withoutBaseline(options: DeployRequest, settings: CanarySettings): AnalysisReport {
  return {
    strategy: 'canary', deployment: options.workload.kind === 'generated' ? options.workload.app.appName : '', namespace: options.namespace, baseline: 'none',
    stableImage: '', canaryImage: options.image,
    options: { ...(settings.comparison ?? DEFAULT_COMPARISON), requestsPerSecond: settings.requestsPerSecond, onInconclusive: settings.onInconclusive },
    steps: [], verdict: 'promoted',
  };
}

/**
 * Promotion: canary and baseline are removed first (their served pods carry the Service's label,
 * and the rolling deploy's model proof must see the Deployment's own pods only; the stable
 * Deployment kept its full size throughout, so this costs no capacity), then the image is rolled
 * out to the stable Deployment by the ordinary rolling deploy.
 */
export async function promoteCanary(options: DeployRequest, context: DeployContext): Promise<DeployResult> {
  if (options.workload.kind !== 'generated') throw new TaskError('DeployCanaryNeedsGenerated', []);
  await removeTracks(context, options.namespace, options.workload.app.appName);
  return deployApp(options, context);
}

/** Leaves the tracks running and records the state on `<app>-canary`; if that fails, they go. */
async function holdForDecision(options: DeployRequest, settings: CanarySettings, context: DeployContext, judged: AnalysisReport): Promise<CanaryResult> {
  const name = judged.deployment;
  const state = stateOf(judged, { model: options.workload.kind === 'generated' ? options.workload.app.annotations : {}, stepsPlanned: settings.steps.length, run: options.runAnnotations, now: new Date() });
  const report: AnalysisReport = { ...judged, verdict: 'pending', recommendation: state.recommendation };
  const text = encodeState(state);
  try {
    await recordState(context, options.namespace, trackName(name, 'canary'), text);
  } catch (error) {
    // A cancel may land after the server stored the state: then the canary waits for its decision as planned.
    if (await stateRecorded(context, options.namespace, trackName(name, 'canary'), text)) {
      context.log.warn('DeployCanaryStoppedKept', trackName(name, 'canary'), describeFailure(error));
      throw error;
    }
    await removeTracks(context, options.namespace, name);
    throw error;
  }
  return { verdict: 'pending', report, state };
}

/** Whether `<app>-canary` carries exactly `text`, read under the clean-up budget (the task's signal may have aborted). */
async function stateRecorded(context: DeployContext, namespace: string, name: string, text: string): Promise<boolean> {
  const cluster = context.cluster.detached(cleanupSignal(`reading the canary state of deployment '${name}'`));
  try {
    const canary = await kubeRead(cluster, `read deployment '${name}' in namespace '${namespace}'`,
      () => cluster.apps.readNamespacedDeployment({ name, namespace }), { log: context.log, namespace }) as DeploymentLike | undefined;
    return canary?.metadata?.annotations?.[CANARY_STATE_ANNOTATION] === text;
  } catch {
    return false;
  }
}

/** The state goes on the Deployment's own metadata: a merge patch that leaves its pods alone. */
async function recordState(context: DeployContext, namespace: string, name: string, text: string): Promise<void> {
  const cluster = boundCluster(context);
  await kubeCall(cluster, `record the canary state on deployment '${name}' in namespace '${namespace}'`,
    () => cluster.apps.patchNamespacedDeployment({ name, namespace, body: { metadata: { annotations: { [CANARY_STATE_ANNOTATION]: text } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    { log: context.log, namespace, retry: context.retry });
}

/** Undefined when there is no stable Deployment yet: nothing to compare, the image goes out directly. */
async function runCanarySteps(options: DeployRequest, settings: CanarySettings, context: DeployContext): Promise<JudgedCanary | undefined> {
  if (options.workload.kind !== 'generated') throw new TaskError('DeployCanaryNeedsGenerated', []);
  const cluster = boundCluster(context);
  const { log, retry } = context;
  const app = options.workload.app;
  const namespace = options.namespace;
  const name = app.appName;
  const call = { log, namespace, retry };
  const waiting = await kubeRead(cluster, `read deployment '${trackName(name, 'canary')}' in namespace '${namespace}'`,
    () => cluster.apps.readNamespacedDeployment({ name: trackName(name, 'canary'), namespace }), call) as DeploymentLike | undefined;
  if (waiting?.metadata?.annotations?.[CANARY_STATE_ANNOTATION] !== undefined) throw new TaskError('DeployCanaryAlreadyPending', [trackName(name, 'canary'), namespace]);
  const stable = await kubeRead(cluster, `read deployment '${name}' in namespace '${namespace}'`,
    () => cluster.apps.readNamespacedDeployment({ name, namespace }), call) as DeploymentLike | undefined;
  if (!stable) {
    log.info('DeployCanaryNoStable', name, namespace);
    return undefined;
  }
  const stableImage = imageOf(stable) ?? '';
  const baselineApp: GeneratedApp = { ...app, annotations: stableModel(stable) };
  const stableReplicas = stable.spec?.replicas ?? 1;
  const comparison = settings.comparison ?? DEFAULT_COMPARISON;
  const steps: StepReport[] = [];
  let verdict: Outcome = 'aborted';
  let promote = false;
  try {
    for (const [index, step] of settings.steps.entries()) {
      const report = await runStep(index, step);
      steps.push(report);
      const decision = decide(report, index === settings.steps.length - 1, settings.onInconclusive);
      if (decision.action === 'continue') continue;
      verdict = decision.outcome ?? 'aborted';
      promote = decision.action === 'promote';
      break;
    }
  } catch (error) {
    // Cancelled, timed out or failed mid-step: the tracks go; the stable Deployment was never written.
    log.warn('DeployCanaryStoppedCleanup', name, describeFailure(error), trackName(name, 'canary'), trackName(name, 'baseline'), name);
    await removeTracks(context, namespace, name);
    throw error;
  }
  const report: AnalysisReport = {
    strategy: 'canary', deployment: name, namespace, stableImage, canaryImage: options.image,
    options: { ...comparison, requestsPerSecond: settings.requestsPerSecond, onInconclusive: settings.onInconclusive },
    steps, verdict,
  };
  return { report, promote };

  async function runStep(index: number, step: CanaryStep): Promise<StepReport> {
    const size = stepSize(step, stableReplicas);
    log.info('DeployCanaryStep', index + 1, settings.steps.length, step.percent, size.replicas, size.replicas, (size.canaryShare * 100).toFixed(1), step.seconds);
    const served = step.percent > 0;
    const objects = [
      trackDeployment(app, namespace, options.image, 'canary', size.replicas, served),
      trackDeployment(baselineApp, namespace, stableImage, 'baseline', size.replicas, served),
    ].map((object) => withRunAnnotations([object], options.runAnnotations)[0]!);
    const phase = cluster.within(withDeadline(cluster.signal, options.rolloutTimeoutMs, rolloutPhase((['canary', 'baseline'] as const).map((track) => ({ kind: 'Deployment', name: trackName(name, track) })), options.rolloutTimeoutMs)));
    const applied = await applyObjects(phase, objects, { namespace, log, retry }) as DeploymentLike[];
    const ready: DeploymentLike[] = [];
    for (const [position, track] of (['canary', 'baseline'] as const).entries()) {
      const outcome = await watchRollout(phase, { namespace, name: trackName(name, track), timeoutMs: options.rolloutTimeoutMs, log, initial: applied[position], retry });
      if (outcome.kind !== 'complete') {
        const detail = format('DeployCanaryTrackFailed', track, trackName(name, track), outcome.message);
        return failedStep(index, step, size, detail);
      }
      ready.push(outcome.deployment);
    }
    const [canary, baseline] = ready as [DeploymentLike, DeploymentLike];
    const proof = await provePods(cluster, options, { namespace, deployment: canary, image: options.image }, { log, retry });
    const model: ModelCheck = proof.failure ? { check: 'model', verdict: 'fail', detail: proof.failure.detail } : { check: 'model', verdict: 'pass' };
    const first = await canaryPods();
    const pods = {
      canary: await servingPods(cluster, namespace, canary, options.image, call),
      baseline: await servingPods(cluster, namespace, baseline, stableImage, call),
    };
    const golden = options.goldenRequests;
    const recorder = golden
      ? await replayTraffic(cluster, pods, step, { requests: golden.requests, requestsPerSecond: settings.requestsPerSecond, timeoutMs: golden.timeoutMs ?? 10_000 })
      : undefined;
    const last = await canaryPods();
    const events = await kubeCall(cluster, `list the events in namespace '${namespace}'`, () => cluster.core.listNamespacedEvent({ namespace }), call);
    const signals = podSignals([first, last], events.items as EventLike[]);
    const empty = { latenciesMs: [], requests: 0, errors: 0 };
    const report = judgeStep(index, step, size, signals, model, recorder?.samples('canary') ?? empty, recorder?.samples('baseline') ?? empty, comparison);
    logStep(report);
    return report;
  }

  function failedStep(index: number, step: CanaryStep, size: ReturnType<typeof stepSize>, detail: string): StepReport {
    const signals: PodSignalsCheck = { check: 'podSignals', verdict: 'fail', pods: 0, restarts: 0, oomKilled: 0, readinessFlaps: 0, warnings: [detail] };
    const empty = { latenciesMs: [], requests: 0, errors: 0 };
    const report = judgeStep(index, step, size, signals, { check: 'model', verdict: 'fail', detail }, empty, empty, comparison);
    logStep(report);
    return report;
  }

  function logStep(report: StepReport): void {
    const errors = checkOf(report, 'errorRate')!;
    const latency = checkOf(report, 'latency')!;
    const pods = checkOf(report, 'podSignals')!;
    const model = checkOf(report, 'model')!;
    const { canary, baseline } = report.samples;
    log.info('DeployCanaryStepResult', report.index + 1, report.verdict, canary.errors, canary.requests, baseline.errors, baseline.requests, errors.pValue.toPrecision(3),
      Math.round(latency.canaryMedianMs), Math.round(latency.baselineMedianMs), latency.pValue.toPrecision(3),
      pods.restarts, pods.oomKilled, pods.readinessFlaps, pods.warnings.length, model.detail ?? model.verdict);
  }

  async function canaryPods(): Promise<PodSnapshot[]> {
    const labelSelector = `${TRACK_LABEL}=canary,${TRACK_APP_LABEL}=${name}`;
    const list = await kubeCall(cluster, `list the pods of deployment '${trackName(name, 'canary')}'`, () => cluster.core.listNamespacedPod({ namespace, labelSelector }), call);
    return list.items as PodSnapshot[];
  }
}

/**
 * Deletes `<app>-canary` and `<app>-baseline` (whichever exist); a failure to delete is a warning
 * naming what to delete. Clean-up runs to its end even after a cancel, under its own short budget
 * (lifetime.ts CLEANUP_BUDGET_MS); the cancel is then passed on.
 */
export async function removeTracks(context: Pick<DeployContext, 'cluster' | 'log' | 'signal' | 'retry'>, namespace: string, app: string): Promise<void> {
  const cluster = context.cluster.detached(cleanupSignal(`removing the canary tracks of '${app}'`));
  const call = { log: context.log, namespace, retry: context.retry };
  for (const track of ['canary', 'baseline'] as const) {
    const trackDeploymentName = trackName(app, track);
    try {
      const removed = await kubeRead(cluster, `delete deployment '${trackDeploymentName}' in namespace '${namespace}'`,
        () => cluster.apps.deleteNamespacedDeployment({ name: trackDeploymentName, namespace, propagationPolicy: 'Foreground' }), call);
      if (removed) context.log.info('DeployCanaryRemoved', trackDeploymentName);
    } catch (error) {
      context.log.warn('DeployCanaryRemoveFailed', trackDeploymentName, describeFailure(error));
    }
  }
  const stopped = [context.signal, context.cluster.signal].find((signal) => signal?.aborted);
  if (stopped) throw stopped.reason;
}
