/**
 * Pure helpers of the deployment controller, after k8s.io/kubernetes/pkg/controller/deployment/util:
 * template hashes, revisions, surge/unavailability arithmetic, conditions, status.
 */
import type { Condition, Deployment, PodTemplate, ReplicaSet } from './types';
import { clone, isMap, stableStringify, timestamp } from './types';

export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const HASH_LABEL = 'pod-template-hash';

/** Deployment annotations that are not copied to ReplicaSets (and that rollback keeps). */
export const SKIPPED_ANNOTATIONS = new Set([
  'kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
  'deprecated.deployment.rollback.to',
]);

/** Semantic equality treats null, empty maps and empty lists as absent. */
function prune(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(prune);
  if (!isMap(value)) return value === null ? undefined : value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const pruned = prune(v);
    if (pruned !== undefined) out[k] = pruned;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function canonicalTemplate(template: PodTemplate): string {
  const copy = clone(template);
  if (copy.metadata?.labels) delete copy.metadata.labels[HASH_LABEL];
  return stableStringify(prune(copy) ?? {});
}

export function equalIgnoreHash(a: PodTemplate, b: PodTemplate): boolean {
  return canonicalTemplate(a) === canonicalTemplate(b);
}

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-32a of the template, spelled with the alphabet of rand.SafeEncodeString as the real hash is. */
export function templateHash(template: PodTemplate, collisionCount = 0): string {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(canonicalTemplate(template) + (collisionCount ? String(collisionCount) : ''))) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return [...String(hash)].map((c) => SAFE_ALPHABET[c.charCodeAt(0) % SAFE_ALPHABET.length]).join('');
}

export function revisionOf(rs: ReplicaSet): number {
  const value = Number(rs.metadata.annotations?.[REVISION] ?? '0');
  return Number.isInteger(value) ? value : 0;
}

function scaled(value: number | string | undefined, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value ?? '0');
  if (!m) return Number(value ?? 0);
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** maxSurge rounds up, maxUnavailable down; both zero would deadlock, so unavailable becomes 1. */
export function fenceposts(d: Deployment): { maxSurge: number; maxUnavailable: number } {
  if (d.spec.strategy.type !== 'RollingUpdate') return { maxSurge: 0, maxUnavailable: 0 };
  const rolling = d.spec.strategy.rollingUpdate ?? {};
  const maxSurge = scaled(rolling.maxSurge ?? '25%', d.spec.replicas, true);
  let maxUnavailable = scaled(rolling.maxUnavailable ?? '25%', d.spec.replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  if (d.spec.replicas === 0) maxUnavailable = 0;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, d.spec.replicas) };
}

export const specReplicas = (rss: ReplicaSet[]) => rss.reduce((n, rs) => n + rs.spec.replicas, 0);
export const actualReplicas = (rss: ReplicaSet[]) => rss.reduce((n, rs) => n + (rs.status?.replicas ?? 0), 0);
export const readyReplicas = (rss: ReplicaSet[]) => rss.reduce((n, rs) => n + (rs.status?.readyReplicas ?? 0), 0);
export const availableReplicas = (rss: ReplicaSet[]) => rss.reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0);

export function getCondition(status: Deployment['status'], type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

export function newCondition(type: string, status: Condition['status'], reason: string, message: string): Condition {
  const now = timestamp();
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

/** SetDeploymentCondition: same status and reason is no change; same status keeps the transition time. */
export function setCondition(status: NonNullable<Deployment['status']>, condition: Condition): void {
  const current = getCondition(status, condition.type);
  if (current && current.status === condition.status && current.reason === condition.reason) return;
  if (current && current.status === condition.status) condition.lastTransitionTime = current.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== condition.type), condition];
}

export function removeCondition(status: NonNullable<Deployment['status']>, type: string): void {
  status.conditions = (status.conditions ?? []).filter((c) => c.type !== type);
}

export function isComplete(d: Deployment, status: NonNullable<Deployment['status']>): boolean {
  const want = d.spec.replicas;
  return (status.updatedReplicas ?? 0) === want && (status.replicas ?? 0) === want && (status.availableReplicas ?? 0) === want
    && (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
}

export function isProgressing(d: Deployment, next: NonNullable<Deployment['status']>): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (next.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld
    || (next.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (next.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

export function hasTimedOut(d: Deployment, next: NonNullable<Deployment['status']>, now = Date.now()): boolean {
  const condition = getCondition(next, 'Progressing');
  if (d.spec.progressDeadlineSeconds === undefined || !condition) return false;
  if (condition.reason === 'NewReplicaSetAvailable') return false;
  if (condition.reason === 'ProgressDeadlineExceeded') return true;
  return Date.parse(condition.lastUpdateTime ?? '') + d.spec.progressDeadlineSeconds * 1000 < now;
}

/** calculateStatus: counts from the ReplicaSets' status, and the Available condition. */
export function calculateStatus(d: Deployment, all: ReplicaSet[], newRs: ReplicaSet | undefined): NonNullable<Deployment['status']> {
  const available = availableReplicas(all);
  const status: NonNullable<Deployment['status']> = {
    observedGeneration: d.metadata.generation, replicas: actualReplicas(all),
    updatedReplicas: newRs ? actualReplicas([newRs]) : 0, readyReplicas: readyReplicas(all),
    availableReplicas: available, unavailableReplicas: Math.max(0, specReplicas(all) - available),
    conditions: clone(d.status?.conditions ?? []),
    ...(d.status?.collisionCount !== undefined ? { collisionCount: d.status.collisionCount } : {}),
  };
  if (available >= d.spec.replicas - fenceposts(d).maxUnavailable) {
    setCondition(status, newCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'));
  } else {
    setCondition(status, newCondition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'));
  }
  return status;
}

/** Zero counts are left out, as Go's omitempty does in the real status. */
export function compactStatus<T extends Record<string, unknown>>(status: T): T {
  const out: Record<string, unknown> = { ...status };
  for (const [k, v] of Object.entries(out)) if (v === 0 && k !== 'observedGeneration') delete out[k];
  return out as T;
}
