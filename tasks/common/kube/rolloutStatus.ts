/**
 * Rollout decisions, pure, following kubectl exactly: DeploymentStatusViewer.Status
 * (kubectl/pkg/polymorphichelpers/rollout_status.go) and the revision choice of `kubectl rollout
 * undo` (kubectl/pkg/polymorphichelpers/rollback.go, deploymentRevision).
 */
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject, ObjectMeta, PodTemplate } from './types';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** The condition reason the deployment controller sets when progressDeadlineSeconds passes. */
export const TIMED_OUT_REASON = 'ProgressDeadlineExceeded';

export interface DeploymentCondition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
}

export interface DeploymentLike {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly replicas?: number; readonly template?: PodTemplate };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly replicas?: number;
    readonly updatedReplicas?: number;
    readonly availableReplicas?: number;
    readonly conditions?: readonly DeploymentCondition[];
  };
}

export interface ReplicaSetLike {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly template?: PodTemplate };
}

export interface RolloutStatus {
  readonly done: boolean;
  readonly failed: boolean;
  readonly message: string;
}

/**
 * kubectl's decision, in kubectl's order and words. `expectedRevision` is kubectl's --revision:
 * when given and the deployment moved to another revision, the rollout is reported failed.
 */
export function rolloutStatus(deployment: DeploymentLike, expectedRevision = 0): RolloutStatus {
  const name = deployment.metadata?.name ?? '';
  if (expectedRevision > 0) {
    const running = revisionOf(deployment);
    if (running === undefined) return failed(`cannot get the revision of deployment "${name}": annotation ${REVISION_ANNOTATION} is not a number`);
    if (running !== expectedRevision) return failed(`desired revision (${expectedRevision}) is different from the running revision (${running})`);
  }
  const status = deployment.status ?? {};
  if ((deployment.metadata?.generation ?? 0) > (status.observedGeneration ?? 0)) {
    return waiting('Waiting for deployment spec update to be observed...');
  }
  const progressing = status.conditions?.find((condition) => condition.type === 'Progressing');
  if (progressing?.reason === TIMED_OUT_REASON) return failed(`deployment "${name}" exceeded its progress deadline`);
  const updated = status.updatedReplicas ?? 0;
  const current = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const desired = deployment.spec?.replicas;
  if (desired !== undefined && updated < desired) {
    return waiting(`Waiting for deployment "${name}" rollout to finish: ${updated} out of ${desired} new replicas have been updated...`);
  }
  if (current > updated) {
    return waiting(`Waiting for deployment "${name}" rollout to finish: ${current - updated} old replicas are pending termination...`);
  }
  if (available < updated) {
    return waiting(`Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...`);
  }
  return { done: true, failed: false, message: `deployment "${name}" successfully rolled out` };
}

function waiting(message: string): RolloutStatus {
  return { done: false, failed: false, message };
}

function failed(message: string): RolloutStatus {
  return { done: false, failed: true, message };
}

/** As kubectl's deploymentutil.Revision: 0 without the annotation, undefined when it is not a number. */
export function revisionOf(object: { readonly metadata?: ObjectMeta } | KubeObject): number | undefined {
  const text = object.metadata?.annotations?.[REVISION_ANNOTATION];
  if (text === undefined) return 0;
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

export interface RollbackTarget {
  readonly revision: number;
  readonly replicaSetName: string;
  /** The ReplicaSet's pod template without the pod-template-hash label, ready to patch back. */
  readonly template: PodTemplate;
}

function isControlledBy(replicaSet: ReplicaSetLike, uid: string | undefined): boolean {
  return uid !== undefined && (replicaSet.metadata?.ownerReferences ?? []).some((owner) => owner.controller === true && owner.uid === uid);
}

/**
 * The ReplicaSet `kubectl rollout undo` goes back to: among those the deployment controls, the one
 * with the second-highest revision (the highest below the newest). Undefined when there is no history.
 */
export function previousRevisionTemplate(deployment: DeploymentLike, replicaSets: readonly ReplicaSetLike[]): RollbackTarget | undefined {
  let latest: { revision: number; replicaSet?: ReplicaSetLike } = { revision: -1 };
  let previous: { revision: number; replicaSet?: ReplicaSetLike } = { revision: -1 };
  for (const replicaSet of replicaSets) {
    if (!isControlledBy(replicaSet, deployment.metadata?.uid)) continue;
    const revision = revisionOf(replicaSet);
    if (revision === undefined) continue; // kubectl skips ReplicaSets whose revision does not parse
    if (revision > latest.revision) {
      previous = latest;
      latest = { revision, replicaSet };
    } else if (revision > previous.revision) {
      previous = { revision, replicaSet };
    }
  }
  if (!previous.replicaSet) return undefined;
  return {
    revision: previous.revision,
    replicaSetName: previous.replicaSet.metadata?.name ?? '',
    template: withoutHashLabel(previous.replicaSet.spec?.template ?? {}),
  };
}

/** A copy of the template without the label the controller adds to tell ReplicaSets apart. */
export function withoutHashLabel(template: PodTemplate): PodTemplate {
  const copy = structuredClone(template) as { metadata?: { labels?: Record<string, string> } };
  if (copy.metadata?.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH_LABEL];
  return copy as PodTemplate;
}

/** kubectl skips the undo when the current template already equals the target, ignoring the hash label. */
export function sameTemplateIgnoringHash(a: PodTemplate, b: PodTemplate): boolean {
  return isDeepStrictEqual(withoutHashLabel(a), withoutHashLabel(b));
}
