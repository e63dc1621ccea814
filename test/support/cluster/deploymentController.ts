/**
 * The deployment controller, after k8s.io/kubernetes/pkg/controller/deployment: rolling updates
 * bounded by maxSurge and maxUnavailable, Recreate, pause, revision history clean-up, and the status
 * that `kubectl rollout status` reads (observedGeneration, replica counts, Available and Progressing
 * with NewReplicaSetCreated / ReplicaSetUpdated / NewReplicaSetAvailable / ProgressDeadlineExceeded).
 */
import { type ControllerContext, R } from './context';
import { ReplicaSetBook, byCreation, newReplicaSetReplicas } from './deploymentReplicaSets';
import {
  availableReplicas, calculateStatus, compactStatus, equalIgnoreHash, fenceposts, getCondition, hasTimedOut, isComplete, isProgressing,
  newCondition, removeCondition, revisionOf, setCondition, specReplicas,
} from './deploymentUtil';
import type { Deployment, ReplicaSet } from './types';
import { deepEqual } from './types';

export class DeploymentController {
  private readonly book: ReplicaSetBook;

  constructor(private readonly ctx: ControllerContext) {
    this.book = new ReplicaSetBook(ctx);
  }

  sync(namespace: string, name: string): void {
    let d = this.ctx.api.tryGet(R.deployment, namespace, name) as Deployment | undefined;
    if (!d || d.metadata.deletionTimestamp) return;
    d = this.checkPausedConditions(d);
    if (d.spec.paused) return this.syncPaused(d);
    if (d.spec.strategy.type === 'Recreate') return this.rolloutRecreate(d);
    this.rolloutRolling(d);
  }

  private rolloutRolling(deployment: Deployment): void {
    const { d, newRs, old } = this.book.newAndOld(deployment, true);
    if (!newRs) return this.ctx.enqueue('deployment', d.metadata.namespace ?? '', d.metadata.name ?? '');
    // reconcileNewReplicaSet
    if (newRs.spec.replicas !== d.spec.replicas) {
      const target = newRs.spec.replicas > d.spec.replicas ? d.spec.replicas : newReplicaSetReplicas(d, [...old, newRs], newRs.spec.replicas);
      if (target !== newRs.spec.replicas) {
        this.book.scale(newRs, target, d);
        return this.syncRolloutStatus(d);
      }
    }
    if (this.reconcileOldReplicaSets(d, old, newRs)) return this.syncRolloutStatus(d);
    if (isComplete(d, d.status ?? {})) this.cleanup(d, old);
    this.syncRolloutStatus(d);
  }

  private reconcileOldReplicaSets(d: Deployment, allOld: ReplicaSet[], newRs: ReplicaSet): boolean {
    const old = allOld.filter((rs) => rs.spec.replicas > 0).sort(byCreation);
    if (specReplicas(old) === 0) return false;
    const { maxUnavailable } = fenceposts(d);
    const minAvailable = d.spec.replicas - maxUnavailable;
    const newUnavailable = newRs.spec.replicas - (newRs.status?.availableReplicas ?? 0);
    const maxScaledDown = specReplicas([...old, newRs]) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    // Unhealthy old replicas go first, or they would block the rollout until it times out.
    let cleaned = 0;
    const after = old.map((rs) => {
      const unhealthy = rs.spec.replicas - (rs.status?.availableReplicas ?? 0);
      if (cleaned >= maxScaledDown || unhealthy <= 0) return rs;
      const down = Math.min(maxScaledDown - cleaned, unhealthy);
      cleaned += down;
      return this.book.scale(rs, rs.spec.replicas - down, d);
    });
    // Then healthy ones, as far as availability above minAvailable allows.
    const available = availableReplicas([...after, newRs]);
    let budget = available - minAvailable;
    let scaledDown = 0;
    for (const rs of after) {
      if (budget <= 0) break;
      if (rs.spec.replicas === 0) continue;
      const down = Math.min(rs.spec.replicas, budget);
      budget -= down;
      scaledDown += down;
      this.book.scale(rs, rs.spec.replicas - down, d);
    }
    return cleaned + scaledDown > 0;
  }

  private rolloutRecreate(deployment: Deployment): void {
    let { d, newRs, old } = this.book.newAndOld(deployment, false);
    const active = old.filter((rs) => rs.spec.replicas > 0);
    if (active.length > 0) {
      for (const rs of active) this.book.scale(rs, 0, d);
      return this.syncRolloutStatus(d);
    }
    if (old.some((rs) => (rs.status?.replicas ?? 0) > 0)) return this.syncRolloutStatus(d);
    if (!newRs) ({ d, newRs, old } = this.book.newAndOld(d, true));
    if (newRs && newRs.spec.replicas !== d.spec.replicas) this.book.scale(newRs, d.spec.replicas, d);
    if (isComplete(d, d.status ?? {})) this.cleanup(d, old);
    this.syncRolloutStatus(d);
  }

  private syncPaused(deployment: Deployment): void {
    const { d, newRs } = this.book.newAndOld(deployment, false);
    const all = this.book.owned(d);
    const status = compactStatus(calculateStatus(d, all, all.find((rs) => rs.metadata.uid === newRs?.metadata.uid)));
    if (!deepEqual(d.status, status)) this.book.writeStatus(d, status);
  }

  /** A paused deployment reports Progressing Unknown, so the deadline does not run while it is paused. */
  private checkPausedConditions(d: Deployment): Deployment {
    if (d.spec.progressDeadlineSeconds === undefined) return d;
    const condition = getCondition(d.status, 'Progressing');
    if (condition?.reason === 'ProgressDeadlineExceeded') return d;
    const pausedNoted = condition?.reason === 'DeploymentPaused';
    let next;
    if (d.spec.paused && !pausedNoted) next = newCondition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused');
    else if (!d.spec.paused && pausedNoted) next = newCondition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed');
    else return d;
    setCondition((d.status ??= {}), next);
    return this.book.writeStatus(d);
  }

  /** Keeps spec.revisionHistoryLimit old ReplicaSets that are scaled to zero; deletes older ones. */
  private cleanup(d: Deployment, old: ReplicaSet[]): void {
    const limit = d.spec.revisionHistoryLimit;
    if (limit === undefined) return;
    const candidates = old.filter((rs) => !rs.metadata.deletionTimestamp).sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of candidates.slice(0, Math.max(0, candidates.length - limit))) {
      if ((rs.status?.replicas ?? 0) !== 0 || rs.spec.replicas !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
      this.ctx.api.delete(R.replicaSet, rs.metadata.namespace, rs.metadata.name ?? '');
    }
  }

  /** syncRolloutStatus: counts, then the Progressing condition, then a requeue at the progress deadline. */
  private syncRolloutStatus(d: Deployment): void {
    const all = this.book.owned(d);
    const newRs = all.find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
    const next = calculateStatus(d, all, newRs);
    const deadline = d.spec.progressDeadlineSeconds;
    if (deadline === undefined) removeCondition(next, 'Progressing');
    const current = getCondition(d.status, 'Progressing');
    const done = (next.replicas ?? 0) === (next.updatedReplicas ?? 0) && current?.reason === 'NewReplicaSetAvailable';
    const subject = newRs ? `ReplicaSet "${newRs.metadata.name}"` : `Deployment "${d.metadata.name}"`;
    if (deadline !== undefined && !done) {
      if (isComplete(d, next)) {
        setCondition(next, newCondition('Progressing', 'True', 'NewReplicaSetAvailable', `${subject} has successfully progressed.`));
      } else if (isProgressing(d, next)) {
        const condition = newCondition('Progressing', 'True', 'ReplicaSetUpdated', `${subject} is progressing.`);
        if (current?.status === 'True') condition.lastTransitionTime = current.lastTransitionTime;
        removeCondition(next, 'Progressing');
        setCondition(next, condition);
      } else if (hasTimedOut(d, next)) {
        setCondition(next, newCondition('Progressing', 'False', 'ProgressDeadlineExceeded', `${subject} has timed out progressing.`));
      }
    }
    const status = compactStatus(next);
    if (!deepEqual(d.status, status)) this.book.writeStatus(d, status);
    this.requeueAtDeadline(d, status);
  }

  /** requeueStuckDeployment: nothing else would wake the controller when the deadline passes. */
  private requeueAtDeadline(d: Deployment, status: NonNullable<Deployment['status']>): void {
    const condition = getCondition(status, 'Progressing');
    const deadline = d.spec.progressDeadlineSeconds;
    if (deadline === undefined || !condition || isComplete(d, status) || condition.reason === 'ProgressDeadlineExceeded') return;
    const due = Date.parse(condition.lastUpdateTime ?? '') + deadline * 1000 - Date.now();
    this.ctx.enqueue('deployment', d.metadata.namespace ?? '', d.metadata.name ?? '', Math.max(0, due) + 50);
  }
}
