/**
 * Objects by resource, namespace and name, with one cluster-wide resourceVersion counter (like etcd's
 * revision) and a bounded history of changes so that a watch can resume from a resourceVersion, or
 * learn that it is too old (410 Gone) once the history has moved past it.
 */
import type { ResourceType } from './resources';
import type { KubeObject } from './types';
import { clone } from './types';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly type: EventType;
  readonly resource: ResourceType;
  readonly object: KubeObject;
  /** The object before this change (MODIFIED, DELETED): lets a filtered watch see objects leave its selection. */
  readonly previous?: KubeObject;
  readonly revision: number;
}

export type Listener = (event: StoreEvent) => void;

function keyOf(resource: ResourceType): string {
  return `${resource.group}/${resource.plural}`;
}

function nameKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  private revision = 100;
  private readonly buckets = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<Listener>();

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch can still resume from. */
  get oldestResumable(): number {
    return this.history.length > 0 ? this.history[0].revision - 1 : this.revision;
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return clone(this.bucket(resource).get(nameKey(resource.namespaced ? namespace : undefined, name)));
  }

  list(resource: ResourceType, namespace?: string): KubeObject[] {
    const items = [...this.bucket(resource).values()]
      .filter((o) => !namespace || !resource.namespaced || o.metadata.namespace === namespace)
      .sort((a, b) => nameKey(a.metadata.namespace, a.metadata.name ?? '').localeCompare(nameKey(b.metadata.namespace, b.metadata.name ?? '')));
    return items.map((o) => clone(o));
  }

  /** Stores a new version of an object (creating it if new) and tells every listener. Returns what was stored. */
  put(resource: ResourceType, object: KubeObject): KubeObject {
    const bucket = this.bucket(resource);
    const key = nameKey(object.metadata.namespace, object.metadata.name ?? '');
    const previous = bucket.get(key);
    this.revision += 1;
    // Field order as the real server writes it: apiVersion, kind, metadata, then the rest.
    const { apiVersion, kind, metadata, ...rest } = clone(object);
    const stored: KubeObject = { apiVersion, kind, metadata: { ...metadata, resourceVersion: String(this.revision) }, ...rest };
    bucket.set(key, stored);
    this.emit({ type: previous ? 'MODIFIED' : 'ADDED', resource, object: stored, previous, revision: this.revision });
    return clone(stored);
  }

  remove(resource: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const bucket = this.bucket(resource);
    const key = nameKey(resource.namespaced ? namespace : undefined, name);
    const previous = bucket.get(key);
    if (!previous) return undefined;
    bucket.delete(key);
    this.revision += 1;
    // A deleted object is reported with the resourceVersion of its deletion, as etcd3 watches do.
    const gone = clone(previous);
    gone.metadata.resourceVersion = String(this.revision);
    this.emit({ type: 'DELETED', resource, object: gone, previous, revision: this.revision });
    return clone(gone);
  }

  /** Changes after `revision`, oldest first; undefined when the history no longer reaches back that far. */
  eventsSince(revision: number): StoreEvent[] | undefined {
    if (revision < this.oldestResumable) return undefined;
    return this.history.filter((e) => e.revision > revision);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    for (const listener of [...this.listeners]) listener(event);
  }

  private bucket(resource: ResourceType): Map<string, KubeObject> {
    let bucket = this.buckets.get(keyOf(resource));
    if (!bucket) this.buckets.set(keyOf(resource), (bucket = new Map()));
    return bucket;
  }
}
