/**
 * Deciding later: the promote or abort of a canary that a run with `canaryDecision: manual` left
 * waiting (canary.ts). This run may be another job, on another agent, with a fresh token: it knows
 * only what the cluster holds. It reads `<app>-canary`, checks that the task started it (its track
 * labels), reads the state annotation (canaryState.ts) and cross-checks it against the Deployment
 * itself (the image it runs, the model on its pods), and only then acts:
 * - promote: canary and baseline are removed and the recorded image, with the recorded model, is
 *   rolled out to the stable Deployment by the ordinary rolling deploy (rollout watch, model proof,
 *   rollback on failure);
 * - abort: canary and baseline are removed; the stable Deployment is not touched. Abort needs no
 *   state, so a canary whose state is unusable can still be removed; and with nothing to abort it
 *   changes nothing and warns, as KubernetesManifest's reject ignores tracks that are not there.
 */
import { SettingError, INPUT_SLOT, TaskError } from '../../errors';
import { kubeRead } from '../apiCall';
import { type DeployContext, type DeployRequest, type GeneratedApp, boundCluster } from '../deploy';
import { MANAGED_BY_LABEL, MANAGER, appSpecProblem } from '../generate';
import type { ModelCheckSettings } from '../modelCheck';
import type { DeploymentLike } from '../rolloutStatus';
import { ANNOTATION_KEYS } from '../types';
import { settingFailure } from '../validate';
import { TRACK_APP_LABEL, TRACK_LABEL, type CanaryResult, imageOf, promoteCanary, removeTracks, trackName } from './canary';
import { CANARY_STATE_ANNOTATION, type CanaryState, CanaryStateError, decodeState, startedBy } from './canaryState';

export type CanaryAction = 'promote' | 'abort';

/** The rolling deploy's settings, less what the recorded state supplies: the image and the model. */
export type DecisionRequest = Omit<DeployRequest, 'image' | 'modelCheck' | 'workload'> & { readonly app: GeneratedApp };

export interface CanaryDecision {
  readonly action: CanaryAction;
  readonly request: DecisionRequest;
  /** The image the pipeline means to promote: refused when the canary tests another. */
  readonly expectedImage?: string;
  /** Likewise the model digest. */
  readonly expectedModelDigest?: string;
  /** How the promoted pods are asked for their model; the digest asked for is the recorded one. */
  readonly modelProbe?: Omit<ModelCheckSettings, 'digest'>;
}

/** A track this task made: its labels say so. A Deployment merely named `<app>-canary` is not one. */
function isOurTrack(deployment: DeploymentLike & { metadata?: { labels?: Record<string, string> } }, app: string, track: 'canary' | 'baseline'): boolean {
  const labels = deployment.metadata?.labels ?? {};
  return labels[TRACK_LABEL] === track && labels[TRACK_APP_LABEL] === app && labels[MANAGED_BY_LABEL] === MANAGER;
}

/** The recorded state, checked in itself and against the Deployment that carries it. */
export function checkedState(canary: DeploymentLike, app: string, namespace: string): CanaryState {
  const name = trackName(app, 'canary');
  const state = decodeState(canary.metadata?.annotations?.[CANARY_STATE_ANNOTATION], name);
  if (state.app !== app || state.namespace !== namespace) throw new CanaryStateError(name, `it names app '${state.app}' in namespace '${state.namespace}', not '${app}' in '${namespace}'`);
  const running = imageOf(canary);
  if (running !== state.image) throw new CanaryStateError(name, `'image' is ${state.image}, but the Deployment runs ${running ?? 'no image'}`);
  const podModel = canary.spec?.template?.metadata?.annotations?.[ANNOTATION_KEYS.modelDigest];
  if (podModel !== state.model.modelDigest) throw new CanaryStateError(name, `'model.modelDigest' is ${state.model.modelDigest ?? 'not set'}, but its pods are annotated with ${podModel ?? 'none'}`);
  return state;
}

async function readTracks(decision: CanaryDecision, context: DeployContext): Promise<{ canary?: DeploymentLike; baseline?: DeploymentLike }> {
  const cluster = boundCluster(context);
  const { namespace, app } = decision.request;
  const call = { log: context.log, namespace, retry: context.retry };
  const read = (track: 'canary' | 'baseline') => kubeRead(cluster, `read deployment '${trackName(app.appName, track)}' in namespace '${namespace}'`,
    () => cluster.apps.readNamespacedDeployment({ name: trackName(app.appName, track), namespace }), call) as Promise<DeploymentLike | undefined>;
  const tracks = { canary: await read('canary'), baseline: await read('baseline') };
  for (const track of ['canary', 'baseline'] as const) {
    const found = tracks[track];
    if (found && !isOurTrack(found, app.appName, track)) throw new TaskError('DeployCanaryNotOurs', [trackName(app.appName, track), namespace]);
  }
  return tracks;
}

function logState(state: CanaryState, context: DeployContext): void {
  context.log.info('DeployCanaryStateRead', state.image, state.model.modelDigest ?? '(none)', state.recordedAt, startedBy(state),
    state.step.reached, state.step.of, state.step.percent, state.outcome, state.recommendation);
}

/** Carries out `decision.action` on the canary waiting in the cluster. */
export async function decideCanary(decision: CanaryDecision, context: DeployContext): Promise<CanaryResult> {
  const { request } = decision;
  const app = request.app.appName;
  const tracks = await readTracks(decision, context);
  if (decision.action === 'abort') return abortCanary(decision, tracks, context);
  if (!tracks.canary) throw new TaskError('DeployCanaryNothingPending', [request.namespace, trackName(app, 'canary')]);
  const state = checkedState(tracks.canary, app, request.namespace);
  logState(state, context);
  if (decision.expectedImage !== undefined && decision.expectedImage !== state.image) {
    throw new SettingError('image', 'DeployCanaryImageMismatch', [INPUT_SLOT, decision.expectedImage, trackName(app, 'canary'), state.image]);
  }
  if (decision.expectedModelDigest !== undefined && decision.expectedModelDigest !== state.model.modelDigest) {
    throw new SettingError('modelDigest', 'DeployCanaryImageMismatch', [INPUT_SLOT, decision.expectedModelDigest, trackName(app, 'canary'), state.model.modelDigest ?? '(no model digest)']);
  }
  const options: DeployRequest = {
    ...request,
    image: state.image,
    workload: { kind: 'generated', app: { ...request.app, annotations: state.model } },
    modelCheck: decision.modelProbe && state.model.modelDigest ? { ...decision.modelProbe, digest: state.model.modelDigest } : undefined,
  };
  // Checked before anything changes: the recorded image goes into the generated Deployment.
  const problem = appSpecProblem({ ...request.app, annotations: state.model, namespace: request.namespace, image: state.image });
  if (problem) throw settingFailure(problem);
  if (state.recommendation === 'abort') context.log.warn('DeployCanaryPromoteAgainstAdvice', state.outcome, state.step.reached, state.step.of);
  context.log.info('DeployCanaryPromotingOnRequest', state.image, app);
  const deployed = await promoteCanary(options, context);
  return { verdict: 'promoted', state, deployed };
}

async function abortCanary(decision: CanaryDecision, tracks: { canary?: DeploymentLike; baseline?: DeploymentLike }, context: DeployContext): Promise<CanaryResult> {
  const { namespace, app } = decision.request;
  if (!tracks.canary && !tracks.baseline) {
    context.log.warn('DeployCanaryNothingToAbort', namespace, trackName(app.appName, 'canary'), trackName(app.appName, 'baseline'));
    return { verdict: 'aborted' };
  }
  let state: CanaryState | undefined;
  if (tracks.canary) {
    try {
      state = checkedState(tracks.canary, app.appName, namespace);
      logState(state, context);
    } catch (error) {
      if (!(error instanceof CanaryStateError)) throw error;
      context.log.warn('DeployCanaryAbortWithoutState', error.message);
    }
  }
  await removeTracks(context, namespace, app.appName);
  context.log.info('DeployCanaryAbortedOnRequest', state?.image ?? imageOf(tracks.canary ?? tracks.baseline!) ?? '-', app.appName);
  return { verdict: 'aborted', ...(state ? { state } : {}) };
}
