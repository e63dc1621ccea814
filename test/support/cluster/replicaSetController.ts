/**
 * The ReplicaSet controller: keeps as many pods as spec.replicas (deleting the least useful first:
 * unscheduled, pending, not ready, newest), and reports replicas / ready / available
 * (ready for minReadySeconds) in status, which the deployment controller adds up.
 */
import { CONTROLLER_MANAGER, CONTROLLER_STATUS, type ControllerContext, R, controllerRef, isControlledBy } from './context';
import type { Condition, Pod, ReplicaSet } from './types';
import { clone, deepEqual } from './types';

const SOURCE = { component: 'replicaset-controller' };

export function readyCondition(pod: Pod): Condition | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
}

function deletionRank(pod: Pod): number[] {
  const phase = { Pending: 0, Unknown: 1, Running: 2 }[pod.status?.phase ?? 'Pending'] ?? 0;
  return [pod.spec.nodeName ? 1 : 0, phase, readyCondition(pod) ? 1 : 0, -Date.parse(pod.metadata.creationTimestamp ?? '')];
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

export class ReplicaSetController {
  constructor(private readonly ctx: ControllerContext) {}

  private pods(rs: ReplicaSet): Pod[] {
    return (this.ctx.api.list(R.pod, rs.metadata.namespace) as Pod[]).filter((p) =>
      isControlledBy(p, rs) && !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
  }

  sync(namespace: string, name: string): void {
    const rs = this.ctx.api.tryGet(R.replicaSet, namespace, name) as ReplicaSet | undefined;
    if (!rs || rs.metadata.deletionTimestamp) return;
    const pods = this.pods(rs);
    const diff = pods.length - rs.spec.replicas;
    if (diff < 0) {
      for (let i = 0; i < -diff; i += 1) this.createPod(rs);
    } else if (diff > 0) {
      for (const pod of [...pods].sort((a, b) => compareRanks(deletionRank(a), deletionRank(b))).slice(0, diff)) {
        this.ctx.api.delete(R.pod, namespace, pod.metadata.name ?? '');
        this.ctx.events.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`, SOURCE);
      }
    }
    this.updateStatus(rs, this.pods(rs));
  }

  private createPod(rs: ReplicaSet): void {
    const template = clone(rs.spec.template);
    const pod = this.ctx.api.create(R.pod, rs.metadata.namespace, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata.name}-`, namespace: rs.metadata.namespace, labels: template.metadata?.labels,
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}), ownerReferences: [controllerRef(rs)],
      },
      spec: template.spec,
    }, CONTROLLER_MANAGER);
    this.ctx.events.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`, SOURCE);
  }

  private updateStatus(rs: ReplicaSet, pods: Pod[]): void {
    const minReadyMs = (rs.spec.minReadySeconds ?? 0) * 1000;
    const templateLabels = rs.spec.template.metadata?.labels ?? {};
    let nextCheck = Infinity;
    const available = pods.filter((p) => {
      const ready = readyCondition(p);
      if (!ready) return false;
      const due = Date.parse(ready.lastTransitionTime ?? '') + minReadyMs - Date.now();
      if (due > 0) nextCheck = Math.min(nextCheck, due);
      return due <= 0;
    });
    const status: Record<string, number> = {
      replicas: pods.length,
      fullyLabeledReplicas: pods.filter((p) => Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
      readyReplicas: pods.filter((p) => readyCondition(p)).length,
      availableReplicas: available.length,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    for (const key of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas']) if (status[key] === 0) delete status[key];
    if (!deepEqual(rs.status, status)) {
      this.ctx.api.modify(R.replicaSet, rs.metadata.namespace, rs.metadata.name ?? '', CONTROLLER_STATUS, (o) => {
        o.status = status;
      });
    }
    if (nextCheck !== Infinity) this.ctx.enqueue('replicaset', rs.metadata.namespace ?? '', rs.metadata.name ?? '', nextCheck + 50);
  }
}
