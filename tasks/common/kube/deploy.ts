/**
 * Deploy AI App To AKS, the core: apply the workload, watch the rollout, roll back when it fails,
 * then report where the app answers. The task entry reads inputs into a DeployRequest and publishes
 * DeployResult (or the RolloutFailedError's fields) as outputs. Every setting is the caller's: the
 * task's defaults live in its task.json alone.
 *
 * Time limits, each ending the phase's API calls, retries and pauses with it: rolloutTimeoutMs
 * bounds the apply and the rollout watch together; after a failure, the diagnostics get
 * DIAGNOSTICS_BUDGET_MS (no more than rolloutTimeoutMs) and the rollback rolloutTimeoutMs again; the load balancer's address gets
 * loadBalancerTimeoutMs; the smoke test its attempts. The agent's cancel ends any of them.
 */
import { withDeadline } from '../lifetime';
import type { Log } from '../log';
import { format } from '../messages';
import type { Network } from '../net/network';
import { type CallOptions, kubeRead } from './apiCall';
import { applyObjects, applyPullSecret, ensureNamespace, type RegistryCredentials } from './apply';
import type { Cluster } from './cluster';
import { describeRolloutFailure } from './diagnostics';
import { type AppSpec, generateManifests } from './generate';
import { type ApplySet, applySetId, asMembers, openApplySet, pruneApplySet } from './prune';
import { RolloutFailedError } from './rolloutFailedError';
import { StoppedError } from '../net/errors';
import { rollbackDeployment } from './rollback';
import type { DeploymentLike } from './rolloutStatus';
import { type RolloutOutcome, type WorkloadKind, readWorkload, watchRollout, workloadRevision, workloadStatus } from './rolloutWatch';
import { rollbackToTemplate } from './workloads/templateRollback';
import { controllerRevisionNumber } from './workloads/controllerRevision';
import { imagesOf, isWorkload, workloadList } from './workloads/workloadList';
import { addressSender, runGoldenRequests } from './goldenRun';
import type { GoldenSettings } from './goldenRequests';
import type { ModelCheckSettings } from './modelCheck';
import { type ProofFailureReason, provePods } from './modelProof';
import { type ServiceAddress, serviceFor, waitForServiceAddress } from './service';
import { smokeTest } from './smokeTest';
import { withRunAnnotations } from './traceability';
import type { KubeObject, PodTemplate } from './types';

export { RolloutFailedError };

/** The generated workload: namespace, image and pull secret come from the DeployRequest. */
export type GeneratedApp = Omit<AppSpec, 'namespace' | 'image'>;

export type Workload =
  | { readonly kind: 'generated'; readonly app: GeneratedApp }
  /** Already parsed and with the image substituted by the caller. */
  | { readonly kind: 'manifests'; readonly documents: readonly KubeObject[] };

export interface PullSecret extends RegistryCredentials {
  readonly name: string;
}

export interface SmokeTestSettings {
  readonly path: string;
  readonly attempts: number;
  readonly intervalMs: number;
  readonly timeoutMs?: number;
}

export interface DeployRequest {
  readonly namespace: string;
  readonly createNamespace: boolean;
  readonly image: string;
  readonly workload: Workload;
  readonly imagePullSecret?: PullSecret;
  readonly rolloutTimeoutMs: number;
  readonly rollbackOnFailure: boolean;
  readonly loadBalancerTimeoutMs: number;
  readonly smokeTest?: SmokeTestSettings;
  /** The run's traceability annotations (traceability.ts), put on every object applied. */
  readonly runAnnotations?: Readonly<Record<string, string>>;
  /** Each new pod must report this model digest; undefined: not checked. */
  readonly modelCheck?: ModelCheckSettings;
  /** Sent to one new pod before the rollout is done, then through the load balancer. */
  readonly goldenRequests?: GoldenSettings;
  /** After a successful rollout, delete what earlier runs of this app applied and the manifests no longer hold (prune.ts). */
  readonly prune?: boolean;
}

export interface DeployContext {
  readonly cluster: Cluster;
  readonly log: Log;
  readonly network: Network;
  /** The agent's cancel; the rollout's own deadline is added to it. */
  readonly signal?: AbortSignal;
  /** Rollout status lines as they change ("Waiting for deployment ... 1 of 2 updated replicas"). */
  readonly progress?: (line: string) => void;
  readonly retry?: CallOptions['retry'];
}

/** The context's cluster with its calls also ended by the context's signal (the agent's cancel), when it has one. */
export function boundCluster(context: Pick<DeployContext, 'cluster' | 'signal'>): Cluster {
  return context.signal ? context.cluster.within(context.signal) : context.cluster;
}

/** Reading pods and events after a failed rollout: enough for a healthy server, short for a silent one. */
export const DIAGNOSTICS_BUDGET_MS = 30_000;

/** One rolled-out workload, as the workloads output lists it. */
export interface WorkloadReport {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly revision: number;
  readonly images: readonly string[];
}

export interface DeployResult {
  /** The primary Deployment: the one running `image`, else the first. */
  readonly deploymentName: string;
  readonly namespace: string;
  readonly revision: number;
  readonly deployedImage: string;
  readonly service?: ServiceAddress;
  /** Always false here: a rolled-back deployment throws a RolloutFailedError carrying rolledBack. */
  readonly rolledBack: boolean;
  /** The apply left the Deployment's generation as it was: same template, nothing rolled out. */
  readonly unchanged: boolean;
  /** Every ready pod reported the deployed model digest. */
  readonly modelVerified: boolean;
  /** Every Deployment the manifests hold, in their order, the primary among them. */
  readonly workloads: readonly WorkloadReport[];
  readonly timings: { readonly applyMs: number; readonly rolloutMs: number; readonly proofMs: number; readonly serviceMs: number };
}

export async function deployApp(options: DeployRequest, context: DeployContext): Promise<DeployResult> {
  const cluster = boundCluster(context);
  const annotated = withRunAnnotations(workloadDocuments(options), options.runAnnotations);
  const { indexes, primary: primaryAt } = workloadList(annotated, options);
  const started = Date.now();
  const primaryIndex = indexes[primaryAt];
  // The apply set is named after the primary Deployment: the app, whatever else its manifests hold.
  const parent = options.prune ? { name: `${annotated[primaryIndex].metadata?.name ?? ''}-applyset`, namespace: options.namespace } : undefined;
  const documents = parent ? asMembers(annotated, applySetId(parent.name, parent.namespace)) : annotated;
  const named = indexes.map((index) => ({ kind: documents[index].kind, name: documents[index].metadata?.name ?? '' }));
  const rolling = cluster.within(withDeadline(cluster.signal, options.rolloutTimeoutMs, rolloutPhase(named, options.rolloutTimeoutMs)));
  const applied = await applyWorkload(rolling, context, options, documents, indexes, primaryIndex, parent);
  const applyMs = Date.now() - started;

  const outcomes = await Promise.all(applied.deployments.map((one) => rollout(rolling, context, options, one)));
  const rolloutMs = Date.now() - started - applyMs;
  const failedAt = outcomes.findIndex((outcome) => outcome.kind === 'failed');
  if (failedAt >= 0) throw await rolloutFailed(cluster, context, options, applied, failedAt, outcomes[failedAt] as Failed);
  const completed = outcomes as Complete[];
  const primary = applied.deployments.findIndex((one) => one.primary);
  const outcome = completed[primary];
  const deployedImage = imageOf(outcome.deployment.spec?.template, options.image);

  let modelVerified = false;
  // The model check on every Deployment running the model's image; the golden requests once, on the primary.
  for (const [index, one] of applied.deployments.entries()) {
    const template = completed[index].deployment.spec?.template;
    if (!one.primary && !(template?.spec?.containers ?? []).some((container) => container.image === options.image)) continue;
    const settings = one.primary ? options : { modelCheck: options.modelCheck };
    const proof = await provePods(cluster, settings, { namespace: one.namespace, deployment: completed[index].deployment, image: options.image }, { log: context.log, retry: context.retry });
    if (proof.failure) throw await unproven(cluster, context, options, applied, index, completed[index], proof.failure.reason, proof.failure.detail);
    if (one.primary) modelVerified = proof.modelVerified;
  }
  const proofMs = Date.now() - started - applyMs - rolloutMs;

  const service = await reach(cluster, context, options, applied.objects, outcome.deployment, applied.deployments[primary].namespace);
  const golden = options.goldenRequests;
  if (golden && service?.url) {
    const send = addressSender(service.url, context.network, cluster.signal, golden.timeoutMs ?? 10_000);
    const through = await runGoldenRequests(send, golden, service.url, context.log);
    if (through.failure) throw await unproven(cluster, context, options, applied, primary, outcome, 'GoldenRequestsFailed', through.failure);
  }
  // Only now, with every workload rolled out and proven: deleting earlier objects cannot be undone.
  if (applied.set) await pruneApplySet(cluster, applied.set, applied.objects, context.log);
  // A StatefulSet's or DaemonSet's revision is its ControllerRevision's number, as kubectl rollout history shows it.
  const revisions = await Promise.all(applied.deployments.map(async (one, index) => (one.kind === 'Deployment' ? completed[index].revision
    : await controllerRevisionNumber(cluster, one.kind, one.namespace, completed[index].deployment, { log: context.log, retry: context.retry }) ?? completed[index].revision)));
  const workloads = applied.deployments.map((one, index): WorkloadReport => Object.freeze({
    kind: one.kind, name: one.name, namespace: one.namespace, revision: revisions[index], images: Object.freeze(imagesOf(completed[index].deployment as KubeObject)),
  }));
  return Object.freeze({
    deploymentName: applied.deployments[primary].name, namespace: applied.deployments[primary].namespace, revision: revisions[primary], deployedImage, service, rolledBack: false,
    unchanged: applied.deployments.every((one) => one.unchanged), modelVerified, workloads: Object.freeze(workloads),
    timings: Object.freeze({ applyMs, rolloutMs, proofMs, serviceMs: Date.now() - started - applyMs - rolloutMs - proofMs }),
  });
}

/** Pods that are Ready but do not prove the model: failed like a rollout that did not complete. */
function unproven(cluster: Cluster, context: DeployContext, options: DeployRequest, applied: Applied, index: number, outcome: Complete, reason: ProofFailureReason, detail: string): Promise<RolloutFailedError> {
  return rolloutFailed(cluster, context, options, applied, index, { ...outcome, kind: 'failed', reason, message: detail });
}

/** The namespace and pull secret, then every object; reads each Deployment first to tell a no-op apply. */
async function applyWorkload(cluster: Cluster, context: DeployContext, options: DeployRequest, documents: KubeObject[], indexes: readonly number[], primaryIndex: number, parent?: { name: string; namespace: string }): Promise<Applied> {
  const { log } = context;
  await ensureNamespace(cluster, options.namespace, options.createNamespace, log);
  const secret = options.imagePullSecret;
  if (secret) await applyPullSecret(cluster, options.namespace, secret.name, secret, log);
  const set = parent && await openApplySet(cluster, parent, documents, log);
  const before = await Promise.all(indexes.map((index): Promise<DeploymentLike | undefined> => {
    const namespace = documents[index].metadata?.namespace ?? options.namespace;
    const name = documents[index].metadata?.name ?? '';
    const kind = documents[index].kind as WorkloadKind;
    return kubeRead(cluster, `read ${kind.toLowerCase()} '${name}' in namespace '${namespace}'`, () => readWorkload(cluster, kind, name, namespace), { log, namespace, retry: context.retry });
  }));
  const objects = await applyObjects(cluster, documents, { namespace: options.namespace, log, retry: context.retry });
  const deployments = indexes.map((index, at): AppliedDeployment => {
    const deployment = objects[index] as DeploymentLike;
    const generation = before[at]?.metadata?.generation;
    return {
      kind: documents[index].kind as WorkloadKind, before: before[at],
      namespace: documents[index].metadata?.namespace ?? options.namespace, name: documents[index].metadata?.name ?? '', deployment,
      unchanged: generation !== undefined && generation === deployment.metadata?.generation, primary: index === primaryIndex,
    };
  });
  return { deployments, objects, set };
}

/** The objects to apply; a pull secret is referenced from the Deployments' pods so it is used. */
export function workloadDocuments(options: DeployRequest): KubeObject[] {
  const secret = options.imagePullSecret?.name;
  if (options.workload.kind === 'generated') {
    const app = options.workload.app;
    const spec: AppSpec = { ...app, namespace: options.namespace, image: options.image, imagePullSecret: secret ?? app.imagePullSecret };
    const { deployment, service } = generateManifests(spec);
    return [deployment as KubeObject, service as KubeObject];
  }
  return options.workload.documents.map((document) => (secret && isWorkload(document) ? withPullSecret(document, secret) : document));
}

/** The rollout's deadline, as a cut call names it: "applying and rolling out statefulset 'db', deployment 'api' (rolloutTimeoutSeconds, 300 s)". */
export function rolloutPhase(workloads: readonly { readonly kind: string; readonly name: string }[], timeoutMs: number): string {
  return format('DeployRolloutPhase', workloads.map((one) => `${one.kind.toLowerCase()} '${one.name}'`).join(', '), Math.round(timeoutMs / 1000));
}

function withPullSecret(deployment: KubeObject, name: string): KubeObject {
  const copy = structuredClone(deployment) as { spec?: { template?: { spec?: { imagePullSecrets?: { name?: string }[] } } } };
  const pod = copy.spec?.template?.spec;
  if (!pod) return deployment;
  if (!(pod.imagePullSecrets ?? []).some((entry) => entry.name === name)) pod.imagePullSecrets = [...(pod.imagePullSecrets ?? []), { name }];
  return copy as KubeObject;
}

interface AppliedDeployment {
  readonly kind: WorkloadKind;
  /** As it was before this run's apply: a StatefulSet or DaemonSet is rolled back to its template. */
  readonly before?: DeploymentLike;
  readonly namespace: string;
  readonly name: string;
  readonly deployment: DeploymentLike;
  /** The apply left the generation as it was: nothing to roll out, nothing to roll back. */
  readonly unchanged: boolean;
  /** The one running `image`: outputs, the service and the golden requests speak of it. */
  readonly primary: boolean;
}

interface Applied {
  readonly deployments: readonly AppliedDeployment[];
  /** The server's copies of every object, in the order applied. */
  readonly objects: readonly KubeObject[];
  /** With prune: the apply set this run's objects joined. */
  readonly set?: ApplySet;
}

/** An unchanged, healthy Deployment needs no watch: the fast path of a re-run. */
async function rollout(cluster: Cluster, context: DeployContext, options: DeployRequest, applied: AppliedDeployment): Promise<RolloutOutcome> {
  const { deployment, unchanged, name, namespace, kind } = applied;
  if (unchanged && workloadStatus(deployment, kind).done) {
    const revision = workloadRevision(deployment, kind);
    context.log.info('DeployUnchanged', kind, name, revision);
    return { kind: 'complete', revision, deployment, elapsedMs: 0 };
  }
  context.log.info('DeployRollingOut', Math.round(options.rolloutTimeoutMs / 1000), kind.toLowerCase(), name, imagesOf(deployment as KubeObject).join(', '));
  return watchRollout(cluster, {
    kind, namespace, name, timeoutMs: options.rolloutTimeoutMs, log: context.log, initial: deployment, retry: context.retry,
    onStatus: context.progress ? (status) => context.progress?.(status.message) : undefined,
  });
}

type Complete = Extract<RolloutOutcome, { kind: 'complete' }>;
type Failed = Extract<RolloutOutcome, { kind: 'failed' }> | (Omit<Complete, 'kind'> & { readonly kind: 'failed'; readonly reason: ProofFailureReason; readonly message: string });

/**
 * The failing Deployment's diagnostics, then every Deployment this run changed rolled back (the
 * failing one's result is the headline; another's rollback failure is added to it).
 */
async function rolloutFailed(cluster: Cluster, context: DeployContext, options: DeployRequest, applied: Applied, index: number, outcome: Failed): Promise<RolloutFailedError> {
  const { log } = context;
  const { namespace, name, kind } = applied.deployments[index];
  // Diagnostics first: a rollback scales the failing pods away, and their events with them.
  const reading = cluster.within(withDeadline(cluster.signal, Math.min(DIAGNOSTICS_BUDGET_MS, options.rolloutTimeoutMs), `reading the pods of deployment '${name}'`));
  const diagnostics = await describeRolloutFailure(reading, namespace, outcome.deployment, log);
  const base = { kind, deployment: name, namespace, image: imagesOf(outcome.deployment as KubeObject).join(', ') || options.image, reason: outcome.reason, detail: outcome.message, revision: outcome.revision, diagnostics };
  if (!options.rollbackOnFailure) return new RolloutFailedError({ ...base, rolledBack: false });
  const changed = applied.deployments.filter((one, at) => at === index || !one.unchanged);
  const results = await Promise.all(changed.map(async (one) => {
    try {
      const rollback = one.kind !== 'Deployment'
        ? await rollbackToTemplate(cluster, one.kind, one.namespace, one.name, one.before, log, options.rolloutTimeoutMs)
        : await rollbackDeployment(cluster, one.namespace, one.name, log, { timeoutMs: options.rolloutTimeoutMs });
      return { one, rollback };
    } catch (error) {
      if (error instanceof StoppedError) throw error;
      return { one, error: error as Error };
    }
  }));
  const mine = results.find((result) => result.one.name === name && result.one.namespace === namespace);
  const otherError = results.find((result) => result !== mine && result.error)?.error;
  // The rollout's failure stays the headline; a rollback's is added to it.
  if (mine?.error || otherError) return new RolloutFailedError({ ...base, rolledBack: false, rollbackError: (mine?.error ?? otherError as Error).message });
  if (!mine?.rollback) return new RolloutFailedError({ ...base, rolledBack: false, noHistory: true });
  return new RolloutFailedError({ ...base, rolledBack: true, previousRevision: mine.rollback.revision, previousImages: mine.rollback.images });
}

/** The container running the deployed image, else the first: what the task reports as deployed. */
export function imageOf(template: PodTemplate | undefined, wanted: string): string {
  const containers = template?.spec?.containers ?? [];
  return containers.find((container) => container.image === wanted)?.image ?? containers[0]?.image ?? '';
}

/** The applied Service selecting the Deployment's pods, its address and, when asked, a smoke test. */
async function reach(cluster: Cluster, context: DeployContext, options: DeployRequest, applied: readonly KubeObject[], deployment: DeploymentLike, namespace: string): Promise<ServiceAddress | undefined> {
  const labels = deployment.spec?.template?.metadata?.labels ?? {};
  const service = serviceFor(applied, namespace, labels);
  const deploymentName = deployment.metadata?.name ?? '';
  if (!service) {
    context.log.info('DeployNoService', ((deployment as KubeObject).kind ?? 'Deployment').toLowerCase(), deploymentName);
    return undefined;
  }
  const name = service.metadata?.name ?? '';
  const address = await waitForServiceAddress(cluster, namespace, name, { timeoutMs: options.loadBalancerTimeoutMs, log: context.log, retry: context.retry });
  const smoke = options.smokeTest;
  if (smoke && !address.url) context.log.warn('DeploySmokeTestSkipped', name, address.type);
  else if (smoke && address.url) {
    await smokeTest(`${address.url}${smoke.path}`, { ...smoke, timeoutMs: smoke.timeoutMs ?? 10_000, log: context.log, network: context.network, signal: cluster.signal });
  }
  return address;
}
