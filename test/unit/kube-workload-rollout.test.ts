import { strict as assert } from 'node:assert';
import { type DaemonSetLike, daemonSetStatus, type StatefulSetLike, statefulSetStatus } from '../../tasks/common/kube/workloads/rolloutRules';

/** Shaped like `kubectl get statefulset db -o json` after the API server's defaulting. */
function statefulSet(status: NonNullable<StatefulSetLike['status']>, options: { generation?: number; replicas?: number; partition?: number; type?: string; noRollingUpdate?: boolean } = {}): StatefulSetLike {
  const type = options.type ?? 'RollingUpdate';
  return {
    metadata: { name: 'db', namespace: 'prod', generation: options.generation ?? 2 },
    spec: {
      replicas: options.replicas ?? 3,
      updateStrategy: options.noRollingUpdate || type !== 'RollingUpdate' ? { type } : { type, rollingUpdate: { partition: options.partition ?? 0 } },
    },
    status,
  };
}

function daemonSet(status: NonNullable<DaemonSetLike['status']>, generation = 5, type = 'RollingUpdate'): DaemonSetLike {
  return { metadata: { name: 'agent', namespace: 'prod', generation }, spec: { updateStrategy: { type } }, status };
}

const settled = { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 3, currentReplicas: 3, currentRevision: 'db-7c9', updateRevision: 'db-7c9' };

describe('kube rollout rules (kubectl StatefulSetStatusViewer, DaemonSetStatusViewer)', () => {
  const rows: readonly { name: string; object: StatefulSetLike; done: boolean; failed?: boolean; message: string }[] = [
    { name: 'statefulset never observed', object: statefulSet({ ...settled, observedGeneration: 0 }), done: false, message: 'Waiting for statefulset spec update to be observed...' },
    { name: 'statefulset newer generation', object: statefulSet({ ...settled, observedGeneration: 1 }), done: false, message: 'Waiting for statefulset spec update to be observed...' },
    { name: 'statefulset pods not ready', object: statefulSet({ ...settled, readyReplicas: 1 }), done: false, message: 'Waiting for 2 pods to be ready...' },
    { name: 'statefulset partition 1, one of two updated', object: statefulSet({ ...settled, updatedReplicas: 1 }, { partition: 1 }), done: false, message: 'Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...' },
    { name: 'statefulset partition 1, two updated', object: statefulSet({ ...settled, updatedReplicas: 2 }, { partition: 1 }), done: true, message: 'partitioned roll out complete: 2 new pods have been updated...' },
    { name: 'statefulset partition 0, all updated', object: statefulSet(settled), done: true, message: 'partitioned roll out complete: 3 new pods have been updated...' },
    { name: 'statefulset without rollingUpdate, revisions differ', object: statefulSet({ ...settled, updatedReplicas: 2, updateRevision: 'db-8d1' }, { noRollingUpdate: true }), done: false, message: 'waiting for statefulset rolling update to complete 2 pods at revision db-8d1...' },
    { name: 'statefulset without rollingUpdate, revisions equal', object: statefulSet(settled, { noRollingUpdate: true }), done: true, message: 'statefulset rolling update complete 3 pods at revision db-7c9...' },
    { name: 'statefulset OnDelete', object: statefulSet(settled, { type: 'OnDelete' }), done: false, failed: true, message: 'rollout status is only available for RollingUpdate strategy type' },
  ];
  for (const row of rows) {
    it(row.name, () => assert.deepEqual(statefulSetStatus(row.object), { done: row.done, failed: row.failed ?? false, message: row.message }));
  }

  const complete = { observedGeneration: 5, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 };
  const daemonRows: readonly { name: string; object: DaemonSetLike; done: boolean; failed?: boolean; message: string }[] = [
    { name: 'daemon set newer generation', object: daemonSet({ ...complete, observedGeneration: 4 }), done: false, message: 'Waiting for daemon set spec update to be observed...' },
    { name: 'daemon set pods not updated', object: daemonSet({ ...complete, updatedNumberScheduled: 1 }), done: false, message: 'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...' },
    { name: 'daemon set pods not available', object: daemonSet({ ...complete, numberAvailable: 2 }), done: false, message: 'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...' },
    { name: 'daemon set rolled out', object: daemonSet(complete), done: true, message: 'daemon set "agent" successfully rolled out' },
    { name: 'daemon set with no nodes to run on is rolled out', object: daemonSet({ observedGeneration: 5 }), done: true, message: 'daemon set "agent" successfully rolled out' },
    { name: 'daemon set OnDelete', object: daemonSet(complete, 5, 'OnDelete'), done: false, failed: true, message: 'rollout status is only available for RollingUpdate strategy type' },
  ];
  for (const row of daemonRows) {
    it(row.name, () => assert.deepEqual(daemonSetStatus(row.object), { done: row.done, failed: row.failed ?? false, message: row.message }));
  }
});
