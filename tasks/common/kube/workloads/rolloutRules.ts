/**
 * kubectl's rollout-status rules for the other workload kinds, pure and in kubectl's order and words
 * (kubectl/pkg/polymorphichelpers/rollout_status.go: StatefulSetStatusViewer, DaemonSetStatusViewer).
 * Deployments keep theirs in ../rolloutStatus.ts. Both kinds support a rollout status only for the
 * RollingUpdate strategy (the API server's default); OnDelete is reported as failed, as kubectl errs.
 */
import type { ObjectMeta } from '../types';
import type { RolloutStatus } from '../rolloutStatus';

export interface StatefulSetLike {
  readonly metadata?: ObjectMeta;
  readonly spec?: {
    readonly replicas?: number;
    readonly updateStrategy?: { readonly type?: string; readonly rollingUpdate?: { readonly partition?: number } };
  };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly readyReplicas?: number;
    readonly updatedReplicas?: number;
    readonly currentReplicas?: number;
    readonly currentRevision?: string;
    readonly updateRevision?: string;
  };
}

export interface DaemonSetLike {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly updateStrategy?: { readonly type?: string } };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly desiredNumberScheduled?: number;
    readonly updatedNumberScheduled?: number;
    readonly numberAvailable?: number;
  };
}

const ROLLING_UPDATE = 'RollingUpdate';

function waiting(message: string): RolloutStatus {
  return { done: false, failed: false, message };
}

function done(message: string): RolloutStatus {
  return { done: true, failed: false, message };
}

function notRolling(): RolloutStatus {
  return { done: false, failed: true, message: `rollout status is only available for ${ROLLING_UPDATE} strategy type` };
}

/** An absent strategy type is the API server's default, RollingUpdate; any other has no rollout to watch. */
export function isRollingUpdate(type: string | undefined): boolean {
  return (type ?? ROLLING_UPDATE) === ROLLING_UPDATE;
}

export function statefulSetStatus(statefulSet: StatefulSetLike): RolloutStatus {
  const strategy = statefulSet.spec?.updateStrategy;
  if (!isRollingUpdate(strategy?.type)) return notRolling();
  const status = statefulSet.status ?? {};
  const observed = status.observedGeneration ?? 0;
  if (observed === 0 || (statefulSet.metadata?.generation ?? 0) > observed) return waiting('Waiting for statefulset spec update to be observed...');
  const replicas = statefulSet.spec?.replicas;
  const ready = status.readyReplicas ?? 0;
  if (replicas !== undefined && ready < replicas) return waiting(`Waiting for ${replicas - ready} pods to be ready...`);
  const updated = status.updatedReplicas ?? 0;
  if (strategy?.rollingUpdate) {
    const partition = strategy.rollingUpdate.partition;
    if (replicas !== undefined && partition !== undefined && updated < replicas - partition) {
      return waiting(`Waiting for partitioned roll out to finish: ${updated} out of ${replicas - partition} new pods have been updated...`);
    }
    return done(`partitioned roll out complete: ${updated} new pods have been updated...`);
  }
  if (status.updateRevision !== status.currentRevision) {
    return waiting(`waiting for statefulset rolling update to complete ${updated} pods at revision ${status.updateRevision ?? ''}...`);
  }
  return done(`statefulset rolling update complete ${status.currentReplicas ?? 0} pods at revision ${status.currentRevision ?? ''}...`);
}

export function daemonSetStatus(daemonSet: DaemonSetLike): RolloutStatus {
  if (!isRollingUpdate(daemonSet.spec?.updateStrategy?.type)) return notRolling();
  const status = daemonSet.status ?? {};
  if ((daemonSet.metadata?.generation ?? 0) > (status.observedGeneration ?? 0)) return waiting('Waiting for daemon set spec update to be observed...');
  const name = daemonSet.metadata?.name ?? '';
  const desired = status.desiredNumberScheduled ?? 0;
  const updated = status.updatedNumberScheduled ?? 0;
  if (updated < desired) return waiting(`Waiting for daemon set "${name}" rollout to finish: ${updated} out of ${desired} new pods have been updated...`);
  const available = status.numberAvailable ?? 0;
  if (available < desired) return waiting(`Waiting for daemon set "${name}" rollout to finish: ${available} of ${desired} updated pods are available...`);
  return done(`daemon set "${name}" successfully rolled out`);
}
