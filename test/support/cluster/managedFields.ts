/**
 * Field ownership. Updates (create, update, patch) hand every field they change to their manager;
 * server-side apply merges a configuration, reports conflicts with fields other managers set to a
 * different value, and removes fields the applier stopped mentioning when nobody else owns them.
 */
import { errors, type StatusCause } from './errors';
import { type FieldPath, FieldSet, describePath, fieldSetOf, fromFieldsV1, keyElement, removeAt, toFieldsV1, valueAt } from './fieldset';
import { isAtomicMap, listKind } from './schema';
import type { KubeObject, ManagedFieldsEntry } from './types';
import { clone, deepEqual, isMap, timestamp } from './types';

export interface Manager {
  readonly manager: string;
  readonly apiVersion: string;
  readonly subresource?: string;
}

interface Entry extends Manager {
  operation: 'Apply' | 'Update';
  time: string;
  set: FieldSet;
}

function readEntries(object: KubeObject | undefined): Entry[] {
  return (object?.metadata.managedFields ?? []).map((e) => ({
    manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, subresource: e.subresource, time: e.time,
    set: fromFieldsV1(e.fieldsV1),
  }));
}

function writeEntries(object: KubeObject, entries: Entry[]): void {
  const kept: ManagedFieldsEntry[] = entries.filter((e) => e.set.size > 0).map((e) => ({
    manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, time: e.time,
    fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(e.set), ...(e.subresource ? { subresource: e.subresource } : {}),
  }));
  if (kept.length > 0) object.metadata.managedFields = kept;
  else delete object.metadata.managedFields;
}

function sameIdentity(entry: Entry, who: Manager, operation: Entry['operation']): boolean {
  return entry.manager === who.manager && entry.operation === operation && (entry.subresource ?? '') === (who.subresource ?? '');
}

/** Item and set-member paths say "this element exists"; only their absence is a change. */
function isMembership(path: FieldPath): boolean {
  const last = path[path.length - 1] ?? '';
  return last.startsWith('k:') || last.startsWith('v:');
}

function differs(a: unknown, b: unknown, path: FieldPath): boolean {
  return isMembership(path) ? (a === undefined) !== (b === undefined) : !deepEqual(a, b);
}

/** Sets next.metadata.managedFields after a non-apply write by `who` (created when `old` is undefined). */
export function recordUpdate(old: KubeObject | undefined, next: KubeObject, kind: string, who: Manager): void {
  const entries = readEntries(old);
  const oldSet = old ? fieldSetOf(old, kind) : new FieldSet();
  const newSet = fieldSetOf(next, kind);
  const changed = newSet.paths().filter((p) => differs(valueAt(old, p), valueAt(next, p), p));
  const removed = oldSet.paths().filter((p) => !newSet.has(p));
  for (const entry of entries) for (const path of [...changed, ...removed]) entry.set.delete(path);
  let mine = entries.find((e) => sameIdentity(e, who, 'Update'));
  if (changed.length > 0) {
    if (!mine) entries.push((mine = { ...who, operation: 'Update', time: '', set: new FieldSet() }));
    for (const path of changed) mine.set.add(path);
    mine.time = timestamp();
  }
  writeEntries(next, entries);
}

function mergeForApply(live: unknown, config: unknown, names: string[], kind: string): unknown {
  if (isMap(live) && isMap(config) && !isAtomicMap(names, kind)) {
    const out: Record<string, unknown> = { ...live };
    for (const [key, value] of Object.entries(config)) out[key] = mergeForApply(live[key], value, [...names, key], kind);
    return out;
  }
  if (Array.isArray(live) && Array.isArray(config)) {
    const list = listKind(names);
    if (list.type === 'set') return [...live, ...config.filter((c) => !live.some((l) => deepEqual(l, c)))];
    if (list.type === 'map') {
      const out = [...live];
      for (const item of config) {
        const at = isMap(item) ? out.findIndex((l) => isMap(l) && keyElement(l, list.keys) === keyElement(item, list.keys)) : -1;
        if (at >= 0) out[at] = mergeForApply(out[at], item, names, kind);
        else out.push(item);
      }
      return out;
    }
  }
  return clone(config);
}

function conflictError(conflicts: { manager: string; apiVersion: string; path: FieldPath }[]): Error {
  const causes: StatusCause[] = conflicts.map((c) => ({
    reason: 'FieldManagerConflict', message: `conflict with "${c.manager}" using ${c.apiVersion}`, field: describePath(c.path),
  }));
  const n = conflicts.length;
  const byManager = [...new Set(conflicts.map((c) => `"${c.manager}" using ${c.apiVersion}`))];
  const message = n === 1
    ? `Apply failed with 1 conflict: conflict with ${byManager[0]}: ${causes[0].field}`
    : `Apply failed with ${n} conflicts: ${byManager.map((m) => `conflicts with ${m}:\n${causes
      .filter((c) => c.message.endsWith(m)).map((c) => `- ${c.field}`).join('\n')}`).join('\n')}`;
  return errors.applyConflict(message, causes);
}

/**
 * Server-side apply of `config` onto `live` (undefined: create-on-apply). Throws 409 on conflicts
 * unless `force`, in which case the applier takes the contested fields over.
 */
export function applyConfiguration(live: KubeObject | undefined, config: KubeObject, kind: string, who: Manager, force: boolean): KubeObject {
  const entries = readEntries(live);
  const configSet = fieldSetOf(config, kind);
  const others = entries.filter((e) => !sameIdentity(e, who, 'Apply'));
  const conflicts: { entry: Entry; path: FieldPath }[] = [];
  for (const entry of others) {
    for (const path of configSet.paths()) {
      if (entry.set.has(path) && !isMembership(path) && !deepEqual(valueAt(live, path), valueAt(config, path))) conflicts.push({ entry, path });
    }
  }
  if (conflicts.length > 0 && !force) {
    throw conflictError(conflicts.map((c) => ({ manager: c.entry.manager, apiVersion: c.entry.apiVersion, path: c.path })));
  }
  for (const { entry, path } of conflicts) entry.set.delete(path);

  const merged = mergeForApply(live ?? { metadata: {} }, config, [], kind) as KubeObject;
  const mine = entries.find((e) => sameIdentity(e, who, 'Apply'));
  if (mine) {
    const ownedByOthers = (path: FieldPath) => {
      const prefix = path.join('\u0000');
      return others.some((e) => e.set.paths().some((p) => p.join('\u0000') === prefix || p.join('\u0000').startsWith(`${prefix}\u0000`)));
    };
    for (const path of mine.set.paths()) if (!configSet.has(path) && !ownedByOthers(path)) removeAt(merged, path);
    mine.set = configSet;
    mine.time = timestamp();
  } else {
    entries.push({ ...who, operation: 'Apply', time: timestamp(), set: configSet });
  }
  writeEntries(merged, entries);
  return merged;
}
