/**
 * core/v1 Events as controllers and the kubelet record them: one object per (object, reason,
 * message), whose count and lastTimestamp grow when it repeats, like client-go's event correlator.
 */
import type { ObjectApi } from './objectApi';
import { type ResourceType, resourceByKind } from './resources';
import type { KubeObject } from './types';
import { timestamp } from './types';

export interface EventSource { readonly component: string; readonly host?: string }

const EVENTS = resourceByKind('Event') as ResourceType;

export class EventRecorder {
  private readonly recent = new Map<string, string>();
  private sequence = 0;

  constructor(private readonly api: ObjectApi) {}

  record(involved: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, source: EventSource, fieldPath?: string): void {
    const namespace = involved.metadata.namespace ?? 'default';
    const key = [involved.metadata.uid, type, reason, message, source.component, fieldPath ?? ''].join('|');
    const now = timestamp();
    const known = this.recent.get(key);
    if (known && this.api.modify(EVENTS, namespace, known, { manager: source.component }, (e) => {
      e.count = (typeof e.count === 'number' ? e.count : 1) + 1;
      e.lastTimestamp = now;
    })) return;
    // Names like the real recorder's: <object>.<hex timestamp>, unique within the namespace.
    const name = `${involved.metadata.name ?? 'unknown'}.${(BigInt(Date.now()) * 1000000n + BigInt(this.sequence++)).toString(16)}`;
    this.api.create(EVENTS, namespace, {
      metadata: { name, namespace },
      involvedObject: {
        kind: involved.kind, namespace: involved.metadata.namespace, name: involved.metadata.name, uid: involved.metadata.uid,
        apiVersion: involved.apiVersion, resourceVersion: involved.metadata.resourceVersion, ...(fieldPath ? { fieldPath } : {}),
      },
      reason, message, source: { ...source }, firstTimestamp: now, lastTimestamp: now, count: 1, type,
      eventTime: null, reportingComponent: source.component, reportingInstance: source.host ?? '',
    }, { manager: source.component });
    this.recent.set(key, name);
  }
}
