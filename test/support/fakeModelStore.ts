/**
 * An in-memory ModelStore, for what no real server can stage cheaply: a listing that reports a
 * 100 TB object, 150,000 files in one version, a range that fails in a chosen way. It keeps the
 * contract: list under a prefix, ranged reads of exactly [offset, offset + count) that fail when
 * the object's ETag changed, and a signal that ends a read at once.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { TaskError } from '../../tasks/common/errors';
import type { ModelStore, StoredObject } from '../../tasks/common/model/store';

export interface FakeObject {
  readonly name: string;
  /** The bytes; when absent the object reports `size` and its bytes are generated (name-seeded). */
  readonly data?: Buffer;
  readonly size?: number;
  readonly sha256?: string;
}

/** What a readRange call does instead of serving: throw, or serve `bytes` then break. */
export type RangeFault = { readonly throws: unknown } | { readonly breakAfter: number; readonly error: Error };

export class FakeModelStore implements ModelStore {
  readonly location = 'https://fake.store.test/models';
  readonly reads: { name: string; offset: number; count: number }[] = [];
  /** Called before each read; returns a fault to inject, or undefined to serve. */
  fault: ((read: { name: string; offset: number; count: number; call: number }) => RangeFault | undefined) | undefined;
  private readonly objects = new Map<string, StoredObject & { data?: Buffer }>();

  constructor(objects: Iterable<FakeObject>) {
    for (const object of objects) {
      const size = object.data?.length ?? object.size ?? 0;
      const sha256Metadata = object.sha256 ?? (object.data ? createHash('sha256').update(object.data).digest('hex') : undefined);
      this.objects.set(object.name, Object.freeze({ name: object.name, size, etag: `"${this.objects.size}"`, lastModified: new Date(1_700_000_000_000), sha256Metadata, data: object.data }));
    }
  }

  async *list(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject> {
    for (const object of this.objects.values()) {
      signal.throwIfAborted();
      if (object.name.startsWith(prefix)) yield object;
    }
  }

  async *findByTags(): AsyncIterable<string> {}

  async readRange(object: StoredObject, offset: number, count: number, signal: AbortSignal): Promise<Readable> {
    signal.throwIfAborted();
    const stored = this.objects.get(object.name);
    if (!stored || stored.etag !== object.etag) throw new TaskError('ObjectChanged', [object.name]);
    const call = this.reads.push({ name: object.name, offset, count });
    const fault = this.fault?.({ name: object.name, offset, count, call });
    if (fault && 'throws' in fault) throw fault.throws;
    const bytes = (stored.data ?? generated(object.name, stored.size)).subarray(offset, offset + count);
    const stream = fault ? breaking(bytes.subarray(0, fault.breakAfter), fault.error) : Readable.from([bytes]);
    const stop = () => stream.destroy(signal.reason as Error);
    signal.addEventListener('abort', stop, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', stop));
    return stream;
  }

  uriOf(name: string): string {
    return `${this.location}/${name}`;
  }
}

function generated(name: string, size: number): Buffer {
  return Buffer.alloc(size, name.length % 251);
}

/** Serves `bytes`, then fails as a cut connection does. */
function breaking(bytes: Buffer, error: Error): Readable {
  let served = false;
  return new Readable({
    read() {
      if (served) return;
      served = true;
      this.push(bytes);
      setImmediate(() => this.destroy(error));
    },
  });
}
