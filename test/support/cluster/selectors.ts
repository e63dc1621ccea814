/**
 * Label selectors (`a=b,c!=d,e in (f,g),!h`) and field selectors (`metadata.name=x`) as the API server
 * parses them from list and watch queries, plus LabelSelector objects (matchLabels/matchExpressions).
 */
import { ApiError, errors } from './errors';
import type { ResourceType } from './resources';
import type { KubeObject, LabelSelector } from './types';
import { isMap } from './types';

type Requirement = { key: string; op: 'in' | 'notin' | 'exists' | '!exists'; values: string[] };

export type Matcher = (object: KubeObject) => boolean;

/** Splits on commas that are not inside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

function parseRequirement(term: string): Requirement {
  const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (set) return { key: set[1], op: set[2] as 'in' | 'notin', values: set[3].split(',').map((v) => v.trim()).filter(Boolean) };
  const cmp = /^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (cmp) return { key: cmp[1], op: cmp[2] === '!=' ? 'notin' : 'in', values: [cmp[3]] };
  if (/^![^\s!=()]+$/.test(term)) return { key: term.slice(1), op: '!exists', values: [] };
  if (/^[^\s!=()]+$/.test(term)) return { key: term, op: 'exists', values: [] };
  throw errors.badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
}

function matches(requirements: Requirement[], labels: Record<string, string>): boolean {
  return requirements.every(({ key, op, values }) => {
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (op) {
      case 'in': return has && values.includes(labels[key]);
      case 'notin': return !has || !values.includes(labels[key]);
      case 'exists': return has;
      case '!exists': return !has;
    }
  });
}

export function parseLabelSelector(text: string | null): Matcher {
  if (!text) return () => true;
  const requirements = terms(text).map(parseRequirement);
  return (object) => matches(requirements, object.metadata.labels ?? {});
}

/** A LabelSelector object (as in Deployment.spec.selector). An empty selector matches everything. */
export function labelSelectorMatches(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const requirements: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({ key, op: 'in', values: [value] }));
  for (const e of selector.matchExpressions ?? []) {
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!exists' } as const)[e.operator as 'In'];
    if (!op) return false;
    requirements.push({ key: e.key, op, values: e.values ?? [] });
  }
  return matches(requirements, labels ?? {});
}

/** The string form kubectl uses for a LabelSelector object in list queries. */
export function labelSelectorString(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === 'In' || e.operator === 'NotIn') parts.push(`${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(',')})`);
    else parts.push(e.operator === 'Exists' ? e.key : `!${e.key}`);
  }
  return parts.join(',');
}

/** Field labels each kind supports; the real server refuses others with 400. */
const FIELD_LABELS: Record<string, readonly string[]> = {
  Event: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid',
    'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  Pod: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  Secret: ['type'],
  Namespace: ['status.phase'],
  ReplicaSet: ['status.replicas'],
  Node: ['spec.unschedulable'],
};

function fieldValue(object: KubeObject, path: string): string {
  if (path === 'source') {
    const source = object.source;
    return isMap(source) && typeof source.component === 'string' ? source.component : '';
  }
  let current: unknown = object;
  for (const part of path.split('.')) current = isMap(current) ? current[part] : undefined;
  return current === undefined || current === null ? '' : String(current);
}

export function parseFieldSelector(text: string | null, resource: ResourceType): Matcher {
  if (!text) return () => true;
  const checks = terms(text).map((term) => {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) throw errors.badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const [, field, op, value] = m;
    const allowed = ['metadata.name', ...(resource.namespaced ? ['metadata.namespace'] : []), ...(FIELD_LABELS[resource.kind] ?? [])];
    if (!allowed.includes(field)) {
      throw new ApiError(400, 'BadRequest', `field label not supported: ${field}`);
    }
    return (object: KubeObject) => (fieldValue(object, field) === value) === (op !== '!=');
  });
  return (object) => checks.every((check) => check(object));
}
