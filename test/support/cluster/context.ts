/** What every controller gets: the object API, a work queue, timers and the event recorder. */
import type { EventRecorder } from './events';
import type { ObjectApi } from './objectApi';
import { type ResourceType, resourceByKind } from './resources';
import type { Store } from './store';
import type { Timers } from './timers';
import type { KubeObject, OwnerReference } from './types';

export type WorkKind = 'deployment' | 'replicaset' | 'statefulset' | 'daemonset' | 'service';

export interface ControllerContext {
  readonly api: ObjectApi;
  readonly store: Store;
  readonly timers: Timers;
  readonly events: EventRecorder;
  /** Queues a sync of the named object, now or after `delayMs`; repeated requests collapse. */
  enqueue(kind: WorkKind, namespace: string, name: string, delayMs?: number): void;
  readonly onError: (error: unknown) => void;
}

const kind = (k: string) => resourceByKind(k) as ResourceType;
export const R = {
  namespace: kind('Namespace'), node: kind('Node'), pod: kind('Pod'), service: kind('Service'), secret: kind('Secret'),
  configMap: kind('ConfigMap'), event: kind('Event'), deployment: kind('Deployment'), replicaSet: kind('ReplicaSet'), statefulSet: kind('StatefulSet'), daemonSet: kind('DaemonSet'),
  controllerRevision: kind('ControllerRevision'),
};

export function controllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion ?? 'v1', kind: owner.kind ?? '', name: owner.metadata.name ?? '', uid: owner.metadata.uid ?? '',
    controller: true, blockOwnerDeletion: true,
  };
}

export function controllerOf(object: KubeObject): OwnerReference | undefined {
  return object.metadata.ownerReferences?.find((r) => r.controller);
}

export function isControlledBy(object: KubeObject, owner: KubeObject): boolean {
  return controllerOf(object)?.uid === owner.metadata.uid;
}

export const CONTROLLER_MANAGER = { manager: 'kube-controller-manager' } as const;
export const CONTROLLER_STATUS = { manager: 'kube-controller-manager', subresource: 'status' } as const;
