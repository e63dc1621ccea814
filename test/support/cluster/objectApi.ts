/**
 * Create, update, patch, apply and delete with the API server's rules: optimistic concurrency on
 * resourceVersion, defaults, validation, status kept apart, generation, managed fields. HTTP handlers
 * and the in-process controllers both write through here, so both leave the same traces.
 */
import { randomUUID } from 'node:crypto';
import { ApiError, errors } from './errors';
import { applyConfiguration, recordUpdate } from './managedFields';
import { applyJsonPatch, applyMergePatch, strategicMerge } from './patch';
import { type ResourceType, apiVersionOf, resourceByKind } from './resources';
import type { Matcher } from './selectors';
import type { Store } from './store';
import { type Allocations, applyDefaults, initialStatus, keepSystemMetadata, separateStatus, usesGeneration, validate } from './strategy';
import type { KubeObject } from './types';
import { clone, deepEqual, isMap, timestamp } from './types';

export interface WriteOptions {
  /** The field manager: the fieldManager parameter, or the user agent's product name. */
  readonly manager: string;
  readonly subresource?: string;
  readonly dryRun?: boolean;
  /** Strict (kubectl's default) rejects unknown top-level fields; Warn adds them to `warnings`. */
  readonly fieldValidation?: string;
  readonly warnings?: string[];
}

const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(length = 5): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return out;
}

const NAMESPACES = resourceByKind('Namespace') as ResourceType;

function withoutVolatile(object: KubeObject): KubeObject {
  const copy = clone(object);
  delete copy.metadata.resourceVersion;
  delete copy.metadata.managedFields;
  return copy;
}

export class ObjectApi {
  constructor(private readonly store: Store, private readonly allocations: Allocations) {}

  tryGet(resource: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(resource, namespace, name);
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const found = this.store.get(resource, namespace, name);
    if (!found) throw errors.notFound(resource, name);
    return found;
  }

  list(resource: ResourceType, namespace?: string, matcher: Matcher = () => true): KubeObject[] {
    return this.store.list(resource, namespace).filter(matcher);
  }

  create(resource: ResourceType, namespace: string | undefined, body: unknown, options: WriteOptions): KubeObject {
    const object = this.checkBody(resource, namespace, body, options);
    const meta = object.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
    if (!meta.name) throw errors.invalid(resource, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'name or generateName is required' }]);
    if (this.store.get(resource, meta.namespace, meta.name)) throw errors.alreadyExists(resource, meta.name);
    return this.finishCreate(resource, object, options);
  }

  update(resource: ResourceType, namespace: string | undefined, name: string, body: unknown, options: WriteOptions): KubeObject {
    const old = this.get(resource, namespace, name);
    const next = this.checkBody(resource, namespace, body, options);
    if (next.metadata.name !== name) throw errors.badRequest(`the name of the object (${next.metadata.name ?? ''}) does not match the name on the URL (${name})`);
    if (next.metadata.resourceVersion && next.metadata.resourceVersion !== old.metadata.resourceVersion) throw errors.conflict(resource, name);
    return this.finishUpdate(resource, old, next, options);
  }

  /** Read-modify-write for controllers: `change` edits a copy; nothing is written when it changes nothing. */
  modify(resource: ResourceType, namespace: string | undefined, name: string, options: WriteOptions, change: (object: KubeObject) => void): KubeObject | undefined {
    const old = this.store.get(resource, namespace, name);
    if (!old) return undefined;
    const next = clone(old);
    change(next);
    return this.finishUpdate(resource, old, next, options);
  }

  patch(resource: ResourceType, namespace: string | undefined, name: string, contentType: string, body: unknown, options: WriteOptions & { force?: boolean }): KubeObject {
    if (contentType === 'application/apply-patch+yaml') return this.apply(resource, namespace, name, body, options);
    const old = this.get(resource, namespace, name);
    let patched: unknown;
    if (contentType === 'application/json-patch+json') patched = applyJsonPatch(old, body);
    else if (contentType === 'application/merge-patch+json') patched = applyMergePatch(old, body);
    else if (contentType === 'application/strategic-merge-patch+json') patched = strategicMerge(old, body);
    else throw errors.unsupportedMediaType(contentType);
    const next = this.checkBody(resource, namespace, patched, options);
    if (next.metadata.resourceVersion && next.metadata.resourceVersion !== old.metadata.resourceVersion) throw errors.conflict(resource, name);
    return this.finishUpdate(resource, old, next, options);
  }

  delete(resource: ResourceType, namespace: string | undefined, name: string, options: { preconditions?: { uid?: string; resourceVersion?: string }; propagationPolicy?: string; dryRun?: boolean } = {}): KubeObject {
    const old = this.get(resource, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) throw errors.conflict(resource, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ''}`);
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) throw errors.conflict(resource, name);
    if (options.dryRun) return old;
    if (options.propagationPolicy === 'Orphan') this.orphanDependents(old);
    return this.store.remove(resource, namespace, name) ?? old;
  }

  private apply(resource: ResourceType, namespace: string | undefined, name: string, body: unknown, options: WriteOptions & { force?: boolean }): KubeObject {
    if (!options.manager) throw errors.badRequest('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const config = this.checkBody(resource, namespace, body, options);
    if (config.metadata.name !== name) throw errors.badRequest(`the name of the object (${config.metadata.name ?? ''}) does not match the name on the URL (${name})`);
    const expected = apiVersionOf(resource);
    if ((body as KubeObject).apiVersion !== expected || (body as KubeObject).kind !== resource.kind) {
      throw errors.badRequest(`the API version in the data (${String((body as KubeObject).apiVersion)}) does not match the expected API version (${expected})`);
    }
    for (const field of ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields'] as const) delete config.metadata[field];
    if (resource.subresources.includes('status') && options.subresource !== 'status') delete config.status;
    const old = this.store.get(resource, namespace, name);
    const who = { manager: options.manager, apiVersion: expected, subresource: options.subresource };
    const merged = applyConfiguration(old, config, resource.kind, who, options.force === true);
    merged.apiVersion = expected;
    merged.kind = resource.kind;
    if (!old) return this.finishCreate(resource, merged, options, true);
    return this.finishUpdate(resource, old, merged, options, true);
  }

  private finishCreate(resource: ResourceType, object: KubeObject, options: WriteOptions, applied = false): KubeObject {
    const meta = object.metadata;
    if (resource.namespaced && !this.store.get(NAMESPACES, undefined, meta.namespace ?? '')) throw errors.namespaceNotFound(meta.namespace ?? '');
    object.apiVersion = apiVersionOf(resource);
    object.kind = resource.kind;
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    delete meta.resourceVersion;
    if (usesGeneration(resource)) meta.generation = 1;
    object.status = initialStatus(resource, object);
    if (object.status === undefined) delete object.status;
    applyDefaults(resource, object, undefined, this.allocations);
    this.validateOrThrow(resource, object, undefined);
    if (!applied) recordUpdate(undefined, object, resource.kind, { manager: options.manager, apiVersion: apiVersionOf(resource) });
    return options.dryRun ? object : this.store.put(resource, object);
  }

  private finishUpdate(resource: ResourceType, old: KubeObject, body: KubeObject, options: WriteOptions, applied = false): KubeObject {
    let next = separateStatus(resource, old, body, options.subresource);
    keepSystemMetadata(resource, old, next, !deepEqual(old.spec, next.spec));
    applyDefaults(resource, next, old, this.allocations);
    this.validateOrThrow(resource, next, old);
    if (!applied) recordUpdate(old, next, resource.kind, { manager: options.manager, apiVersion: apiVersionOf(resource), subresource: options.subresource });
    next.apiVersion = apiVersionOf(resource);
    next.kind = resource.kind;
    // An update that changes nothing is not written: no new resourceVersion, no watch event.
    const sameFields = (o: KubeObject) => (o.metadata.managedFields ?? []).map((e) => ({ ...e, time: '' }));
    if (deepEqual(withoutVolatile(old), withoutVolatile(next)) && deepEqual(sameFields(old), sameFields(next))) return old;
    return options.dryRun ? next : this.store.put(resource, next);
  }

  /** Parses and checks a request body: kind, namespace, and (Strict/Warn) unknown top-level fields. */
  private checkBody(resource: ResourceType, namespace: string | undefined, body: unknown, options: WriteOptions): KubeObject {
    if (!isMap(body) || !isMap(body.metadata ?? {})) throw errors.badRequest('the body of the request is not a JSON object');
    const object = clone(body) as KubeObject;
    object.metadata = isMap(object.metadata) ? object.metadata : {};
    if (object.kind !== undefined && object.kind !== resource.kind) {
      throw errors.badRequest(`${String(object.kind)} in version "${resource.version}" cannot be handled as a ${resource.kind}: the kind of the object does not match the URL`);
    }
    if (resource.namespaced) {
      if (object.metadata.namespace && object.metadata.namespace !== namespace) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      object.metadata.namespace = namespace;
    } else delete object.metadata.namespace;
    const unknown = Object.keys(object).filter((k) => !['apiVersion', 'kind', 'metadata', ...resource.fields].includes(k));
    if (unknown.length > 0 && options.fieldValidation === 'Strict') {
      throw new ApiError(400, 'BadRequest', `${resource.kind} in version "${resource.version}" cannot be handled as a ${resource.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    }
    if (options.fieldValidation === 'Warn') options.warnings?.push(...unknown.map((f) => `unknown field "${f}"`));
    return object;
  }

  private validateOrThrow(resource: ResourceType, object: KubeObject, old: KubeObject | undefined): void {
    const causes = validate(resource, object, old);
    if (causes.length > 0) throw errors.invalid(resource, object.metadata.name ?? '', causes);
  }

  private orphanDependents(owner: KubeObject): void {
    for (const resource of [resourceByKind('ReplicaSet'), resourceByKind('Pod')] as ResourceType[]) {
      for (const dependent of this.store.list(resource)) {
        const refs = dependent.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === owner.metadata.uid)) continue;
        this.modify(resource, dependent.metadata.namespace, dependent.metadata.name ?? '', { manager: 'kube-controller-manager' }, (o) => {
          o.metadata.ownerReferences = refs.filter((r) => r.uid !== owner.metadata.uid);
          if (o.metadata.ownerReferences.length === 0) delete o.metadata.ownerReferences;
        });
      }
    }
  }
}
