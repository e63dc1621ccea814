/**
 * Field sets as structured-merge-diff writes them in metadata.managedFields (FieldsV1): paths made of
 * `f:<field>`, `k:<key json>` (keyed list item), `v:<value json>` (set member) and `.` (the node itself).
 */
import { KEY_DEFAULTS, isAtomicMap, listKind } from './schema';
import type { JsonMap, KubeObject } from './types';
import { deepEqual, isMap, stableStringify } from './types';

export type FieldPath = readonly string[];

const SEP = '\u0000';

export class FieldSet {
  private readonly members = new Map<string, FieldPath>();

  add(path: FieldPath): void {
    this.members.set(path.join(SEP), path);
  }
  has(path: FieldPath): boolean {
    return this.members.has(path.join(SEP));
  }
  delete(path: FieldPath): void {
    this.members.delete(path.join(SEP));
  }
  get size(): number {
    return this.members.size;
  }
  paths(): FieldPath[] {
    return [...this.members.values()];
  }
}

/** Metadata fields that belong to someone; the rest (name, uid, resourceVersion...) belong to the server. */
const OWNED_METADATA = ['labels', 'annotations', 'ownerReferences', 'finalizers'];

export function keyElement(item: JsonMap, keys: readonly string[]): string {
  const key: JsonMap = {};
  for (const k of [...keys].sort()) {
    const value = item[k] ?? KEY_DEFAULTS[k];
    if (value !== undefined) key[k] = value;
  }
  return `k:${stableStringify(key)}`;
}

/** Every field path that `object` sets, as the owner of that configuration would be recorded. */
export function fieldSetOf(object: KubeObject, kind: string): FieldSet {
  const set = new FieldSet();
  const walk = (value: unknown, names: string[], path: string[]): void => {
    if (Array.isArray(value)) {
      const list = listKind(names);
      if (list.type === 'atomic' || value.length === 0) return set.add(path);
      for (const item of value) {
        if (list.type === 'set') set.add([...path, `v:${stableStringify(item)}`]);
        else if (!isMap(item)) return set.add(path);
        else {
          const itemPath = [...path, keyElement(item, list.keys)];
          set.add(itemPath);
          walkMap(item, names, itemPath);
        }
      }
    } else if (isMap(value) && !isAtomicMap(names, kind)) walkMap(value, names, path);
    else set.add(path);
  };
  const walkMap = (map: JsonMap, names: string[], path: string[]): void => {
    const entries = Object.entries(map).filter(([, v]) => v !== undefined);
    if (entries.length === 0 && path.length > 0) set.add(path);
    for (const [field, value] of entries) walk(value, [...names, field], [...path, `f:${field}`]);
  };
  for (const [field, value] of Object.entries(object)) {
    if (field === 'apiVersion' || field === 'kind' || value === undefined) continue;
    if (field === 'metadata') {
      for (const m of OWNED_METADATA) {
        if (isMap(value) && value[m] !== undefined) walk(value[m], ['metadata', m], ['f:metadata', `f:${m}`]);
      }
    } else walk(value, [field], [`f:${field}`]);
  }
  return set;
}

interface Node { member: boolean; children: Map<string, Node> }

export function toFieldsV1(set: FieldSet): JsonMap {
  const root: Node = { member: false, children: new Map() };
  for (const path of set.paths()) {
    let node = root;
    for (const element of path) {
      let child = node.children.get(element);
      if (!child) node.children.set(element, (child = { member: false, children: new Map() }));
      node = child;
    }
    node.member = true;
  }
  const render = (node: Node): JsonMap => {
    const out: JsonMap = node.member && node.children.size > 0 ? { '.': {} } : {};
    for (const key of [...node.children.keys()].sort()) out[key] = render(node.children.get(key) as Node);
    return out;
  };
  return render(root);
}

export function fromFieldsV1(fields: unknown): FieldSet {
  const set = new FieldSet();
  const walk = (node: JsonMap, path: string[]): void => {
    for (const [key, child] of Object.entries(node)) {
      if (key === '.') set.add(path);
      else if (isMap(child) && Object.keys(child).length > 0) walk(child, [...path, key]);
      else set.add([...path, key]);
    }
  };
  if (isMap(fields)) walk(fields, []);
  return set;
}

function matchesKey(item: unknown, element: string): boolean {
  if (!isMap(item)) return false;
  const key = JSON.parse(element.slice(2)) as JsonMap;
  return Object.entries(key).every(([k, v]) => deepEqual(item[k] ?? KEY_DEFAULTS[k], v));
}

function childIndex(list: unknown[], element: string): number {
  if (element.startsWith('k:')) return list.findIndex((item) => matchesKey(item, element));
  if (element.startsWith('v:')) {
    const wanted = JSON.parse(element.slice(2)) as unknown;
    return list.findIndex((item) => deepEqual(item, wanted));
  }
  return element.startsWith('i:') ? Number(element.slice(2)) : -1;
}

/** The value at a field path, or undefined when the object does not have it. */
export function valueAt(object: unknown, path: FieldPath): unknown {
  let current: unknown = object;
  for (const element of path) {
    if (element.startsWith('f:')) current = isMap(current) ? current[element.slice(2)] : undefined;
    else current = Array.isArray(current) ? current[childIndex(current, element)] : undefined;
    if (current === undefined) return undefined;
  }
  return current;
}

export function removeAt(object: unknown, path: FieldPath): void {
  const parent = valueAt(object, path.slice(0, -1));
  const last = path[path.length - 1];
  if (last.startsWith('f:')) {
    if (isMap(parent)) delete parent[last.slice(2)];
  } else if (Array.isArray(parent)) {
    const index = childIndex(parent, last);
    if (index >= 0) parent.splice(index, 1);
  }
}

/** `.spec.template.spec.containers[name="app"].image`: how conflict messages name a field. */
export function describePath(path: FieldPath): string {
  return path.map((element) => {
    if (element.startsWith('f:')) return `.${element.slice(2)}`;
    if (element.startsWith('k:')) {
      const key = JSON.parse(element.slice(2)) as JsonMap;
      return `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
    }
    return `[${element.slice(2)}]`;
  }).join('');
}
