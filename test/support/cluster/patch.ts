/**
 * The three non-apply patch formats: JSON patch (RFC 6902, what `kubectl rollout undo` sends),
 * JSON merge patch (RFC 7386) and strategic merge patch (merges keyed lists such as containers).
 */
import { errors } from './errors';
import { patchMergeKey } from './schema';
import { clone, deepEqual, isMap } from './types';

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw errors.badRequest(`JSON pointer must start with "/": ${path}`);
  return path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: unknown, parts: string[], op: string, path: string): unknown {
  let current = doc;
  for (const part of parts.slice(0, -1)) {
    current = Array.isArray(current) ? current[Number(part)] : isMap(current) ? current[part] : undefined;
    if (current === undefined) throw errors.badRequest(`${op} operation does not apply: doc is missing path: "${path}"`);
  }
  return current;
}

function get(doc: unknown, path: string): unknown {
  let current = doc;
  for (const part of pointer(path)) current = Array.isArray(current) ? current[Number(part)] : isMap(current) ? current[part] : undefined;
  return current;
}

function add(doc: unknown, path: string, value: unknown, op = 'add'): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const parent = parentOf(doc, parts, op, path);
  const last = parts[parts.length - 1];
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!(index >= 0 && index <= parent.length)) throw errors.badRequest(`${op} operation does not apply: index out of range: "${path}"`);
    parent.splice(index, 0, clone(value));
  } else if (isMap(parent)) parent[last] = clone(value);
  else throw errors.badRequest(`${op} operation does not apply: "${path}"`);
  return doc;
}

function remove(doc: unknown, path: string, op = 'remove'): unknown {
  const parts = pointer(path);
  const parent = parentOf(doc, parts, op, path);
  const last = parts[parts.length - 1];
  if (Array.isArray(parent) && Number(last) < parent.length) parent.splice(Number(last), 1);
  else if (isMap(parent) && last in parent) delete parent[last];
  else throw errors.badRequest(`${op} operation does not apply: doc is missing key: "${path}"`);
  return doc;
}

export function applyJsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw errors.badRequest('json patch must be an array of operations');
  let doc = clone(target);
  for (const op of operations) {
    if (!isMap(op) || typeof op.op !== 'string' || typeof op.path !== 'string') throw errors.badRequest(`invalid json patch operation: ${JSON.stringify(op)}`);
    const path = op.path;
    switch (op.op) {
      case 'add': doc = add(doc, path, op.value); break;
      case 'remove': doc = remove(doc, path); break;
      case 'replace': doc = add(remove(doc, path, 'replace'), path, op.value, 'replace'); break;
      case 'move': case 'copy': {
        const value = clone(get(doc, String(op.from)));
        if (value === undefined) throw errors.badRequest(`${op.op} operation does not apply: doc is missing from path: "${String(op.from)}"`);
        if (op.op === 'move') doc = remove(doc, String(op.from));
        doc = add(doc, path, value);
        break;
      }
      case 'test':
        if (!deepEqual(get(doc, path), op.value)) throw errors.badRequest(`testing value ${path} failed`);
        break;
      default: throw errors.badRequest(`unexpected json patch operation "${op.op}"`);
    }
  }
  return doc;
}

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return clone(patch);
  const out: Record<string, unknown> = isMap(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => !(isMap(v) && Object.keys(v).length === 1 && '$patch' in v)).map(stripDirectives);
  if (!isMap(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith('$')) out[k] = stripDirectives(v);
  return out;
}

function mergeList(live: unknown, patch: unknown[], names: string[]): unknown[] {
  const key = patchMergeKey(names);
  if (patch.some((p) => isMap(p) && p.$patch === 'replace')) return stripDirectives(patch) as unknown[];
  if (!key || !Array.isArray(live)) return stripDirectives(patch) as unknown[];
  if (key === 'primitive-merge') return [...live, ...patch.filter((p) => !live.some((l) => deepEqual(l, p)))];
  const out = [...live];
  for (const item of patch) {
    if (!isMap(item)) continue;
    const at = out.findIndex((l) => isMap(l) && deepEqual(l[key], item[key]));
    if (item.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = strategicMerge(out[at], item, names);
    else out.push(stripDirectives(item));
  }
  return out;
}

/** Strategic merge patch for the fields in schema.ts; `$patch`, `$retainKeys` and `$deleteFromPrimitiveList` directives. */
export function strategicMerge(live: unknown, patch: unknown, names: string[] = []): unknown {
  if (!isMap(patch)) return clone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return undefined;
  const out: Record<string, unknown> = isMap(live) ? { ...live } : {};
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(out)) if (!patch.$retainKeys.includes(k)) delete out[k];
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(value)) out[field] = (out[field] as unknown[]).filter((v) => !value.some((d) => deepEqual(d, v)));
      continue;
    }
    if (key.startsWith('$')) continue;
    const path = [...names, key];
    if (value === null) delete out[key];
    else if (Array.isArray(value)) out[key] = mergeList(out[key], value, path);
    else if (isMap(value)) {
      const merged = strategicMerge(out[key], value, path);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    } else out[key] = value;
  }
  return out;
}
