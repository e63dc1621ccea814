/**
 * The blue-green strategy for the generated workload (colours.ts says which Deployment is which
 * colour and how the Service selects one). The colour not serving gets the new image and is watched
 * with the ordinary rollout watch, then proven on its own through the pod proxy (the model check and
 * the golden requests, modelProof.ts) and, with previewService, through `<app>-preview`, a Service of
 * the main one's type selecting it. Only then does ONE server-side apply of the Service move its
 * selector to the new colour. The address is then checked once, as a rolling deploy does (smoke test,
 * golden requests); if that fails, the same one apply puts the previous selector back while the old
 * colour still runs.
 *
 * Fail anywhere before the switch: the Service is never written and the serving Deployment never
 * touched; the new colour is scaled to 0. Pass: the old colour keeps running until its keep-until
 * annotation's time (keepMinutes; 0 scales it down at once), and the task does not wait for it:
 * releaseExpiredColours, run at the start of any later run, scales down what has expired.
 * Stopped before that (a cancel, a deadline, an API failure), the run undoes itself under a short
 * clean-up budget of its own: the Service back to the serving colour if it was switched, the new
 * colour scaled to 0.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { TaskError } from '../../errors';
import { cleanupSignal, withDeadline } from '../../lifetime';
import type { Log } from '../../log';
import { format } from '../../messages';
import { StoppedError } from '../../net/errors';
import { type CallOptions, describeFailure, kubeCall, kubeRead } from '../apiCall';
import { applyObjects, applyPullSecret } from '../apply';
import type { Cluster } from '../cluster';
import { type DeployContext, type DeployRequest, type DeployResult, type GeneratedApp, boundCluster, deployApp, rolloutPhase } from '../deploy';
import { addressSender, runGoldenRequests } from '../goldenRun';
import { NAME_LABEL } from '../generate';
import { provePods } from '../modelProof';
import { type DeploymentLike, revisionOf, rolloutStatus } from '../rolloutStatus';
import { watchRollout } from '../rolloutWatch';
import { type ServiceAddress, waitForServiceAddress } from '../service';
import { smokeTest } from '../smokeTest';
import { withRunAnnotations } from '../traceability';
import { TRACK_APP_LABEL, imageOf } from './canary';
import {
  type Colour, COLOUR_LABEL, KEEP_UNTIL_ANNOTATION, PREVIEW_SUFFIX,
  colourDeployment, colourName, colourSelector, colourService, keepExpired, keepUntil, otherColour, servingColour,
} from './colours';

export interface BlueGreenSettings {
  /** How long the colour that stopped serving keeps running; 0 scales it down right after the switch. */
  readonly keepMinutes: number;
  /** Put `<app>-preview` in front of the new colour before the switch. */
  readonly previewService: boolean;
  /** The clock keep-until is counted from. */
  readonly now?: () => Date;
}

/** Where a blue-green run stopped: the check that failed, or done. */
export type BlueGreenStage = 'rollout' | 'pods' | 'preview' | 'address' | 'done';

export interface BlueGreenReport {
  readonly app: string;
  /** The new colour's Deployment. */
  readonly deployment: string;
  readonly namespace: string;
  readonly image: string;
  /** Undefined on a first run, which rolled the image out to blue directly. */
  readonly previousColour?: Colour;
  readonly newColour: Colour;
  /** The colour the Service selects at the end. */
  readonly activeColour: Colour;
  readonly stage: BlueGreenStage;
  readonly detail?: string;
  readonly switchedBack: boolean;
  readonly preview?: ServiceAddress;
  /** The old colour's keep-until time; undefined when it was scaled down at once. */
  readonly keepUntil?: string;
}

export interface BlueGreenResult {
  readonly verdict: 'promoted' | 'aborted';
  readonly report: BlueGreenReport;
  /** The serving colour after a switch (or a first run's rolling deploy). */
  readonly deployed?: DeployResult;
}

type ServiceLike = { spec?: { selector?: Record<string, string> } };

export async function runBlueGreen(options: DeployRequest, settings: BlueGreenSettings, context: DeployContext): Promise<BlueGreenResult> {
  if (options.workload.kind !== 'generated') throw new TaskError('DeployBlueGreenNeedsGenerated', []);
  const cluster = boundCluster(context);
  const { log, retry } = context;
  const app: GeneratedApp = { ...options.workload.app, imagePullSecret: options.imagePullSecret?.name ?? options.workload.app.imagePullSecret };
  const { namespace, image } = options;
  const name = app.appName;
  const call = { log, namespace, retry };
  const blue = await kubeRead(cluster, `read deployment '${name}' in namespace '${namespace}'`,
    () => cluster.apps.readNamespacedDeployment({ name, namespace }), call) as DeploymentLike | undefined;
  if (!blue) {
    log.info('DeployBlueGreenFirst', name, namespace);
    const deployed = await deployApp(options, context);
    return { verdict: 'promoted', deployed, report: { app: name, deployment: name, namespace, image, newColour: 'blue', activeColour: 'blue', stage: 'done', switchedBack: false } };
  }
  const service = await kubeRead(cluster, `read service '${name}' in namespace '${namespace}'`,
    () => cluster.core.readNamespacedService({ name, namespace }), call) as ServiceLike | undefined;
  const previousSelector = service?.spec?.selector ?? { [NAME_LABEL]: name };
  const serving = servingColour(previousSelector);
  const next = otherColour(serving);
  const servingName = colourName(name, serving);
  const nextName = colourName(name, next);
  const base = { app: name, deployment: nextName, namespace, image, previousColour: serving, newColour: next };
  const started = Date.now();
  const current = serving === 'blue' ? blue : await kubeRead(cluster, `read deployment '${servingName}' in namespace '${namespace}'`,
    () => cluster.apps.readNamespacedDeployment({ name: servingName, namespace }), call) as DeploymentLike | undefined;
  // A re-run (a retried stage, say) of the image that serves: nothing to switch, as a rolling re-run rolls nothing out.
  if (current && imageOf(current) === image && rolloutStatus(current).done) {
    const proof = await provePods(cluster, options, { namespace, deployment: current, image }, { log, retry });
    if (!proof.failure) {
      log.info('DeployBlueGreenAlreadyServing', serving, servingName, image);
      const address = await waitForServiceAddress(cluster, namespace, name, { timeoutMs: options.loadBalancerTimeoutMs, log, retry });
      const deployed = servingResult(servingName, namespace, image, revisionOf(current) ?? 0, address, proof.modelVerified, true, started);
      return { verdict: 'promoted', deployed, report: { ...base, deployment: servingName, newColour: serving, activeColour: serving, stage: 'done', switchedBack: false } };
    }
  }
  log.info('DeployBlueGreenStart', serving, servingName, image, next, nextName);
  if (options.imagePullSecret) await applyPullSecret(cluster, namespace, options.imagePullSecret.name, options.imagePullSecret, log);

  let switched = false;
  let confirmed = false;
  try {
    return await verifyAndSwitch();
  } catch (error) {
    if (!confirmed) await undoAfterStop(error, switched);
    throw error;
  }

  async function verifyAndSwitch(): Promise<BlueGreenResult> {
    const phase = cluster.within(withDeadline(cluster.signal, options.rolloutTimeoutMs, rolloutPhase([{ kind: 'Deployment', name: nextName }], options.rolloutTimeoutMs)));
    const [applied] = await applyObjects(phase, withRunAnnotations([colourDeployment(app, namespace, image, next)], options.runAnnotations), { namespace, log, retry });
    const outcome = await watchRollout(phase, { namespace, name: nextName, timeoutMs: options.rolloutTimeoutMs, log, initial: applied as DeploymentLike, retry });
    if (outcome.kind !== 'complete') return abort('rollout', format('DeployBlueGreenColourFailed', next, nextName, outcome.message));
    const proof = await provePods(cluster, options, { namespace, deployment: outcome.deployment, image }, { log, retry });
    if (proof.failure) return abort('pods', proof.failure.detail);
    let preview: ServiceAddress | undefined;
    if (settings.previewService) {
      const previewName = `${name}${PREVIEW_SUFFIX}`;
      await applyObjects(cluster, withRunAnnotations([colourService(app, namespace, image, colourSelector(name, next), true)], options.runAnnotations), { namespace, log, retry });
      const checked = await throughAddress(previewName, false);
      preview = checked.address;
      if (checked.failure) return abort('preview', checked.failure, { preview });
      log.info('DeployBlueGreenPreview', previewName, next, preview?.url ?? preview?.ip ?? '-');
    }

    // The switch: one apply of the whole Service, its selector replaced (the applier owns every key of it).
    // From here until the check through the address passes, a stop switches the Service back (the switch may have landed).
    switched = true;
    await switchTo(colourSelector(name, next));
    log.info('DeployBlueGreenSwitched', name, next, nextName, image);
    const reached = await throughAddress(name, true);
    if (reached.failure) {
      await switchTo(previousSelector);
      log.warn('DeployBlueGreenSwitchedBack', name, reached.failure, serving, servingName);
      return abort('address', reached.failure, { preview, switchedBack: true });
    }
    confirmed = true;
    const until = settings.keepMinutes > 0 ? keepUntil(settings.now?.() ?? new Date(), settings.keepMinutes) : undefined;
    if (until) {
      await patchDeployment(cluster, namespace, servingName, { metadata: { annotations: { [KEEP_UNTIL_ANNOTATION]: until } } }, call);
      log.info('DeployBlueGreenKept', servingName, serving, until);
    } else await scaleDown(cluster, namespace, servingName, format('DeployBlueGreenKeepZero'), call);
    // The new colour may carry a keep-until from the time it last stopped serving: it serves now.
    if (outcome.deployment.metadata?.annotations?.[KEEP_UNTIL_ANNOTATION] !== undefined) {
      await patchDeployment(cluster, namespace, nextName, { metadata: { annotations: { [KEEP_UNTIL_ANNOTATION]: null } } }, call);
    }
    const deployed = servingResult(nextName, namespace, image, outcome.revision, reached.address, proof.modelVerified, false, started);
    return { verdict: 'promoted', deployed, report: { ...base, activeColour: next, stage: 'done', switchedBack: false, preview, keepUntil: until } };
  }

  /**
   * Stopped (a cancel, a deadline, an API failure) before the run's outcome was settled: under the
   * clean-up budget, independent of the task's aborted signal, the Service goes back to the colour
   * that served, if it was switched, and the new colour is scaled to 0.
   */
  async function undoAfterStop(error: unknown, wasSwitched: boolean): Promise<void> {
    const undo = context.cluster.detached(cleanupSignal(`undoing the blue-green run of '${name}'`));
    if (wasSwitched) {
      log.warn('DeployBlueGreenStoppedSwitchBack', name, describeFailure(error), next, serving, servingName);
      try {
        await applyObjects(undo, withRunAnnotations([colourService(app, namespace, image, previousSelector)], options.runAnnotations), { namespace, log, retry });
        log.info('DeployBlueGreenStoppedSwitchedBack', name, serving, servingName);
      } catch (failure) {
        log.warn('DeployBlueGreenSwitchBackFailed', name, describeFailure(failure), serving);
      }
    } else log.warn('DeployBlueGreenStoppedBeforeSwitch', name, describeFailure(error), nextName, servingName);
    await scaleDown(undo, namespace, nextName, format('DeployBlueGreenStoppedReason'), call);
  }

  async function abort(stage: BlueGreenStage, detail: string, extra: { preview?: ServiceAddress; switchedBack?: boolean } = {}): Promise<BlueGreenResult> {
    await scaleDown(cluster, namespace, nextName, format('DeployBlueGreenFailedReason', stage), call);
    log.warn('DeployBlueGreenAborted', image, stage, detail, name, serving, servingName);
    return { verdict: 'aborted', report: { ...base, activeColour: serving, stage, detail, switchedBack: extra.switchedBack ?? false, preview: extra.preview } };
  }

  async function switchTo(selector: Readonly<Record<string, string>>): Promise<void> {
    await applyObjects(cluster, withRunAnnotations([colourService(app, namespace, image, selector)], options.runAnnotations), { namespace, log, retry });
  }

  /** A Service's address, then (for the main Service) the smoke test, then the golden requests through it. */
  async function throughAddress(serviceName: string, smoke: boolean): Promise<{ address?: ServiceAddress; failure?: string }> {
    let address: ServiceAddress | undefined;
    try {
      address = await waitForServiceAddress(cluster, namespace, serviceName, { timeoutMs: options.loadBalancerTimeoutMs, log, retry });
      if (!address.url) return { address };
      const check = options.smokeTest;
      if (smoke && check) await smokeTest(`${address.url}${check.path}`, { ...check, timeoutMs: check.timeoutMs ?? 10_000, log, network: context.network, signal: cluster.signal });
      const golden = options.goldenRequests;
      if (!golden) return { address };
      const through = await runGoldenRequests(addressSender(address.url, context.network, cluster.signal, golden.timeoutMs ?? 10_000), golden, address.url, log);
      return { address, failure: through.failure };
    } catch (error) {
      if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
      return { address, failure: describeFailure(error) };
    }
  }
}

/** The serving colour as the rolling deploy reports a Deployment: the outputs speak of it. */
function servingResult(name: string, namespace: string, image: string, revision: number, service: ServiceAddress | undefined, modelVerified: boolean, unchanged: boolean, started: number): DeployResult {
  return Object.freeze({
    deploymentName: name, namespace, revision, deployedImage: image, service, rolledBack: false, unchanged, modelVerified,
    workloads: Object.freeze([Object.freeze({ kind: 'Deployment', name, namespace, revision, images: Object.freeze([image]) })]),
    // One span: blue-green's phases (rollout, proof, preview, switch, address) do not map onto the rolling deploy's.
    timings: Object.freeze({ applyMs: 0, rolloutMs: Date.now() - started, proofMs: 0, serviceMs: 0 }),
  });
}

function patchDeployment(cluster: Cluster, namespace: string, name: string, body: object, call: CallOptions): Promise<unknown> {
  return kubeCall(cluster, `patch deployment '${name}' in namespace '${namespace}'`,
    () => cluster.apps.patchNamespacedDeployment({ name, namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)), call);
}

/** To 0 replicas, its keep-until gone with it; a failure is a warning (the Service does not select it). */
async function scaleDown(cluster: Cluster, namespace: string, name: string, why: string, call: CallOptions & { log: Log }): Promise<void> {
  try {
    await patchDeployment(cluster, namespace, name, { metadata: { annotations: { [KEEP_UNTIL_ANNOTATION]: null } }, spec: { replicas: 0 } }, call);
    call.log.info('DeployBlueGreenScaledDown', name, why);
  } catch (error) {
    if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
    call.log.warn('DeployBlueGreenScaleDownFailed', name, describeFailure(error), name);
  }
}

/** What releaseExpiredColours found: the colours scaled down, and which colour the Service selects when the app has colours. */
export interface Release {
  readonly released: readonly string[];
  readonly serving?: Colour;
}

/**
 * Scales down every colour of `app` whose keep-until time has passed and that the Service does not
 * select. Run before any strategy: the task never waits out a keep window itself. Best effort within
 * RELEASE_BUDGET_MS: a run that may not list Deployments, or whose API server does not answer in
 * time, goes on and says so (the strategy's own calls then fail with their own words).
 */
export async function releaseExpiredColours(cluster: Cluster, namespace: string, app: string, now: Date, context: { log: Log; retry?: CallOptions['retry'] }): Promise<Release> {
  // Its own short budget: a silent API server must fail the run on the strategy's own first call, in the strategy's own time.
  const checking = cluster.within(withDeadline(cluster.signal, RELEASE_BUDGET_MS, format('DeployBlueGreenReleasePhase', app, RELEASE_BUDGET_MS / 1000)));
  try {
    return await release(checking, namespace, app, now, context);
  } catch (error) {
    if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
    context.log.warn('DeployBlueGreenReleaseFailed', app, namespace, describeFailure(error));
    return { released: [] };
  }
}

/** Listing the colours and reading the Service: a healthy API server answers in well under a second. */
export const RELEASE_BUDGET_MS = 5_000;

async function release(cluster: Cluster, namespace: string, app: string, now: Date, context: { log: Log; retry?: CallOptions['retry'] }): Promise<Release> {
  const call = { ...context, namespace };
  const list = await kubeCall(cluster, `list the colours of '${app}' in namespace '${namespace}'`,
    () => cluster.apps.listNamespacedDeployment({ namespace, labelSelector: `${TRACK_APP_LABEL}=${app},${COLOUR_LABEL}` }), call);
  const colours = list.items as DeploymentLike[];
  if (colours.length === 0) return { released: [] };
  const service = await kubeRead(cluster, `read service '${app}' in namespace '${namespace}'`, () => cluster.core.readNamespacedService({ name: app, namespace }), call) as ServiceLike | undefined;
  const servingColourNow = servingColour(service?.spec?.selector);
  const serving = colourName(app, servingColourNow);
  const released: string[] = [];
  for (const deployment of colours) {
    const name = deployment.metadata?.name ?? '';
    const value = deployment.metadata?.annotations?.[KEEP_UNTIL_ANNOTATION];
    const state = keepExpired(value, now);
    if (name === serving || state === 'none' || state === 'kept') continue;
    if (state === 'invalid') {
      context.log.warn('DeployBlueGreenKeepInvalid', name, value ?? '', KEEP_UNTIL_ANNOTATION);
      continue;
    }
    await scaleDown(cluster, namespace, name, format('DeployBlueGreenKeepExpired', value ?? ''), call);
    released.push(name);
  }
  return { released, serving: servingColourNow };
}
