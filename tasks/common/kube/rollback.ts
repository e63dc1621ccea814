/**
 * `kubectl rollout undo` (kubectl/pkg/polymorphichelpers/rollback.go, DeploymentRollbacker): put the
 * pod template of the previous revision's ReplicaSet back into the deployment with a JSON patch, with
 * that ReplicaSet's annotations (so the model annotations match the image again), then wait for that
 * rollout like `kubectl rollout status`. The controller reuses the old ReplicaSet under a new revision.
 * All of it, API calls and retries included, within one budget of its own.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { RemoteError, TaskError } from '../errors';
import { withDeadline } from '../lifetime';
import { kubeCall, kubeRead } from './apiCall';
import type { Log } from '../log';
import type { Cluster } from './cluster';
import { listOwnedReplicaSets } from './ownership';
import { type DeploymentLike, REVISION_ANNOTATION, previousRevisionTemplate, revisionOf, sameTemplateIgnoringHash } from './rolloutStatus';
import { watchRollout } from './rolloutWatch';
import type { PodTemplate } from './types';

export interface RollbackResult {
  /** The revision the deployment runs after the rollback (a new number: the controller re-stamps the old ReplicaSet). */
  readonly revision: number;
  readonly images: readonly string[];
}

export interface RollbackOptions {
  /** How long the whole rollback may take, its rollout included. Default 120 s. */
  readonly timeoutMs?: number;
  readonly idleRewatchMs?: number;
}

/** kubectl's annotationsToSkip: the deployment keeps its own values of these; the rest come from the ReplicaSet. */
export const ROLLBACK_KEPT_ANNOTATIONS: readonly string[] = [
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION_ANNOTATION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
];

/** The deployment's annotations after the undo, computed as kubectl's Rollback does. */
export function rollbackAnnotations(deployment: Readonly<Record<string, string>> = {}, replicaSet: Readonly<Record<string, string>> = {}): Record<string, string> {
  const result: Record<string, string> = {};
  for (const key of ROLLBACK_KEPT_ANNOTATIONS) if (deployment[key] !== undefined) result[key] = deployment[key];
  for (const [key, value] of Object.entries(replicaSet)) if (!ROLLBACK_KEPT_ANNOTATIONS.includes(key)) result[key] = value;
  return result;
}

/** kubectl's getDeploymentPatch, with "add" where the deployment has no annotations yet ("replace" needs the path). */
export function rollbackPatch(template: PodTemplate, annotations: Record<string, string>, hasAnnotations: boolean): object[] {
  return [
    { op: 'replace', path: '/spec/template', value: template },
    { op: hasAnnotations ? 'replace' : 'add', path: '/metadata/annotations', value: annotations },
  ];
}

function imagesOf(template: PodTemplate | undefined): string[] {
  return (template?.spec?.containers ?? []).map((container) => container.image ?? '');
}

async function readDeployment(cluster: Cluster, namespace: string, name: string, log: Log): Promise<DeploymentLike> {
  const deployment = await kubeRead(cluster, `read deployment '${name}' in namespace '${namespace}'`,
    () => cluster.apps.readNamespacedDeployment({ name, namespace }), { log, namespace });
  if (!deployment) throw new TaskError('RolloutDeploymentNotFound', ['Deployment', name, namespace]);
  return deployment as DeploymentLike;
}

function patchDeployment(cluster: Cluster, namespace: string, name: string, patch: object[], log: Log): Promise<unknown> {
  return kubeCall(cluster, `patch deployment '${name}' in namespace '${namespace}'`,
    () => cluster.apps.patchNamespacedDeployment({ name, namespace, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch)), { log, namespace });
}

/**
 * Rolls the deployment back to its previous revision and waits until that rollout completes.
 * Undefined when there is no previous revision (nothing was changed).
 */
export async function rollbackDeployment(unbounded: Cluster, namespace: string, name: string, log: Log, options: RollbackOptions = {}): Promise<RollbackResult | undefined> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const cluster = unbounded.within(withDeadline(unbounded.signal, timeoutMs, `the rollback of deployment '${name}'`));
  const deployment = await readDeployment(cluster, namespace, name, log);
  if ((deployment.spec as { paused?: boolean } | undefined)?.paused) throw new TaskError('RolloutRollbackPaused', [name, name, namespace]);
  const replicaSets = await listOwnedReplicaSets(cluster, namespace, deployment, { log, namespace });
  const target = previousRevisionTemplate(deployment, replicaSets);
  if (!target) {
    log.info('RolloutNoPreviousRevision', name);
    return undefined;
  }
  const images = imagesOf(target.template);
  if (sameTemplateIgnoringHash(deployment.spec?.template ?? {}, target.template)) {
    log.info('RolloutRollbackSkipped', name, target.revision, images.join(', '));
  } else {
    const replicaSet = replicaSets.find((rs) => rs.metadata?.name === target.replicaSetName);
    const annotations = rollbackAnnotations(deployment.metadata?.annotations, replicaSet?.metadata?.annotations);
    log.info('RolloutRollingBack', name, target.revision, images.join(', '));
    await patchDeployment(cluster, namespace, name, rollbackPatch(target.template, annotations, deployment.metadata?.annotations !== undefined), log);
  }
  const outcome = await watchRollout(cluster, { namespace, name, log, timeoutMs, idleRewatchMs: options.idleRewatchMs });
  if (outcome.kind === 'failed') throw new RemoteError('RolloutRollbackFailed', [name, target.revision, outcome.message]);
  const revision = revisionOf(outcome.deployment) ?? outcome.revision;
  log.info('RolloutRolledBack', name, target.revision, revision, images.join(', '));
  return { revision, images };
}
