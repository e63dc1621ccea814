/**
 * The deployment controller's ReplicaSet bookkeeping (getAllReplicaSetsAndSyncRevision and
 * scaleReplicaSet in the real sync.go): find the ReplicaSet whose template matches, or create it with
 * the next revision; a reused older ReplicaSet (a rollback) gets the next revision and keeps its old
 * numbers in revision-history.
 */
import { CONTROLLER_MANAGER, CONTROLLER_STATUS, type ControllerContext, R, controllerRef } from './context';
import {
  DESIRED_REPLICAS, HASH_LABEL, MAX_REPLICAS, REVISION, REVISION_HISTORY, SKIPPED_ANNOTATIONS,
  compactStatus, equalIgnoreHash, fenceposts, getCondition, newCondition, revisionOf, setCondition, specReplicas, templateHash,
} from './deploymentUtil';
import { ApiError } from './errors';
import type { Deployment, ReplicaSet } from './types';
import { clone } from './types';

const SOURCE = { component: 'deployment-controller' };

export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  return (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/** Copies deployment annotations and raises the revision; true when anything changed. */
function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: number, exists: boolean): boolean {
  const annotations = (rs.metadata.annotations ??= {});
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (!SKIPPED_ANNOTATIONS.has(k) && annotations[k] !== v) {
      annotations[k] = v;
      changed = true;
    }
  }
  const oldRevision = annotations[REVISION];
  if (Number(oldRevision ?? 0) < newRevision) {
    annotations[REVISION] = String(newRevision);
    changed = true;
    if (oldRevision !== undefined) {
      annotations[REVISION_HISTORY] = annotations[REVISION_HISTORY] ? `${annotations[REVISION_HISTORY]},${oldRevision}` : oldRevision;
    }
  }
  if (!exists) {
    annotations[DESIRED_REPLICAS] = String(d.spec.replicas);
    annotations[MAX_REPLICAS] = String(d.spec.replicas + fenceposts(d).maxSurge);
    changed = true;
  }
  return changed;
}

/** NewRSNewReplicas: how far the new ReplicaSet may grow now without exceeding replicas + maxSurge. */
export function newReplicaSetReplicas(d: Deployment, all: ReplicaSet[], current: number): number {
  if (d.spec.strategy.type === 'Recreate') return d.spec.replicas;
  const maxTotal = d.spec.replicas + fenceposts(d).maxSurge;
  const currentPods = specReplicas(all);
  if (currentPods >= maxTotal) return current;
  return current + Math.min(maxTotal - currentPods, d.spec.replicas - current);
}

export class ReplicaSetBook {
  constructor(private readonly ctx: ControllerContext) {}

  owned(d: Deployment): ReplicaSet[] {
    return (this.ctx.api.list(R.replicaSet, d.metadata.namespace) as ReplicaSet[])
      .filter((rs) => rs.metadata.ownerReferences?.some((r) => r.controller && r.uid === d.metadata.uid))
      .sort(byCreation);
  }

  writeStatus(d: Deployment, status: Deployment['status'] = d.status): Deployment {
    return (this.ctx.api.modify(R.deployment, d.metadata.namespace, d.metadata.name ?? '', CONTROLLER_STATUS, (o) => {
      o.status = compactStatus({ ...status });
      o.metadata.annotations = d.metadata.annotations;
    }) ?? d) as Deployment;
  }

  /** Returns the (possibly updated) deployment, its new ReplicaSet if any, and the old ones. */
  newAndOld(d: Deployment, create: boolean): { d: Deployment; newRs?: ReplicaSet; old: ReplicaSet[] } {
    const owned = this.owned(d);
    const existing = owned.find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
    const old = owned.filter((rs) => rs !== existing);
    const newRevision = Math.max(0, ...old.map(revisionOf)) + 1;
    const hasDeadline = d.spec.progressDeadlineSeconds !== undefined;
    if (existing) {
      const copy = clone(existing);
      const changed = setNewReplicaSetAnnotations(d, copy, newRevision, true);
      if (changed || (copy.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0)) {
        const updated = this.ctx.api.modify(R.replicaSet, copy.metadata.namespace, copy.metadata.name ?? '', CONTROLLER_MANAGER, (o) => {
          o.metadata.annotations = copy.metadata.annotations;
          (o as ReplicaSet).spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
        }) as ReplicaSet;
        return { d, newRs: updated, old };
      }
      let needsUpdate = this.setRevision(d, copy.metadata.annotations?.[REVISION] ?? '');
      if (hasDeadline && !getCondition(d.status, 'Progressing')) {
        setCondition((d.status ??= {}), newCondition('Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${existing.metadata.name}"`));
        needsUpdate = true;
      }
      if (needsUpdate) {
        (d.status ??= {}).observedGeneration = d.metadata.generation;
        d = this.writeStatus(d);
      }
      return { d, newRs: existing, old };
    }
    if (!create) return { d, old };
    return this.create(d, old, newRevision);
  }

  private setRevision(d: Deployment, revision: string): boolean {
    if (!revision || d.metadata.annotations?.[REVISION] === revision) return false;
    d.metadata.annotations = { ...d.metadata.annotations, [REVISION]: revision };
    return true;
  }

  private create(d: Deployment, old: ReplicaSet[], newRevision: number): { d: Deployment; newRs?: ReplicaSet; old: ReplicaSet[] } {
    const hash = templateHash(d.spec.template, d.status?.collisionCount);
    const template = clone(d.spec.template);
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [HASH_LABEL]: hash } };
    const name = `${d.metadata.name}-${hash}`;
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name, namespace: d.metadata.namespace, labels: { ...template.metadata.labels }, ownerReferences: [controllerRef(d)] },
      spec: {
        replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: { ...clone(d.spec.selector), matchLabels: { ...d.spec.selector.matchLabels, [HASH_LABEL]: hash } }, template,
      },
    };
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    rs.spec.replicas = newReplicaSetReplicas(d, old, 0);
    let created: ReplicaSet;
    try {
      created = this.ctx.api.create(R.replicaSet, d.metadata.namespace, rs, CONTROLLER_MANAGER) as ReplicaSet;
    } catch (error) {
      if (!(error instanceof ApiError) || error.reason !== 'AlreadyExists') throw error;
      // A ReplicaSet of that name with another template or owner: a hash collision; retry with a new hash.
      (d.status ??= {}).collisionCount = (d.status.collisionCount ?? 0) + 1;
      this.writeStatus(d);
      return { d, old };
    }
    if (rs.spec.replicas > 0) {
      this.ctx.events.record(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${name} to ${rs.spec.replicas}`, SOURCE);
    }
    this.setRevision(d, String(newRevision));
    if (d.spec.progressDeadlineSeconds !== undefined) {
      setCondition((d.status ??= {}), newCondition('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${name}"`));
    }
    return { d: this.writeStatus(d), newRs: created, old };
  }

  /** scaleReplicaSetAndRecordEvent: also refreshes the desired/max replicas annotations. */
  scale(rs: ReplicaSet, replicas: number, d: Deployment): ReplicaSet {
    if (rs.spec.replicas === replicas) return rs;
    const from = rs.spec.replicas;
    const updated = this.ctx.api.modify(R.replicaSet, rs.metadata.namespace, rs.metadata.name ?? '', CONTROLLER_MANAGER, (o) => {
      (o as ReplicaSet).spec.replicas = replicas;
      o.metadata.annotations = {
        ...o.metadata.annotations, [DESIRED_REPLICAS]: String(d.spec.replicas), [MAX_REPLICAS]: String(d.spec.replicas + fenceposts(d).maxSurge),
      };
    }) as ReplicaSet | undefined;
    this.ctx.events.record(d, 'Normal', 'ScalingReplicaSet',
      `Scaled ${replicas > from ? 'up' : 'down'} replica set ${rs.metadata.name} to ${replicas} from ${from}`, SOURCE);
    return updated ?? rs;
  }
}
