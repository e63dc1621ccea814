/**
 * The resource types the simulator serves, with what discovery says about them. One table feeds
 * routing, legacy and aggregated discovery, OpenAPI and the store, so they cannot disagree.
 */

export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** Subresources served: 'status' keeps spec and status writes apart, as the real registry does. */
  readonly subresources: readonly string[];
  /** Top-level fields besides apiVersion, kind and metadata; strict field validation rejects others. */
  readonly fields: readonly string[];
}

export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

function type(
  group: string, kind: string, plural: string, namespaced: boolean,
  extra: Partial<Pick<ResourceType, 'version' | 'shortNames' | 'categories' | 'subresources' | 'fields'>> = {},
): ResourceType {
  return {
    group, version: extra.version ?? 'v1', kind, plural, singular: kind.toLowerCase(), namespaced,
    shortNames: extra.shortNames ?? [], categories: extra.categories ?? [],
    subresources: extra.subresources ?? [], fields: extra.fields ?? ['spec', 'status'],
  };
}

const EVENT_FIELDS = ['involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type',
  'eventTime', 'series', 'action', 'related', 'reportingComponent', 'reportingInstance'];

export const RESOURCES: readonly ResourceType[] = [
  type('', 'Namespace', 'namespaces', false, { shortNames: ['ns'], subresources: ['status'] }),
  type('', 'Node', 'nodes', false, { shortNames: ['no'], subresources: ['status'] }),
  type('', 'Pod', 'pods', true, { shortNames: ['po'], categories: ['all'], subresources: ['status', 'log'] }),
  type('', 'Service', 'services', true, { shortNames: ['svc'], categories: ['all'], subresources: ['status'] }),
  type('', 'Secret', 'secrets', true, { fields: ['data', 'stringData', 'type', 'immutable'] }),
  type('', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'], fields: ['data', 'binaryData', 'immutable'] }),
  type('', 'Event', 'events', true, { shortNames: ['ev'], fields: EVENT_FIELDS }),
  type('apps', 'Deployment', 'deployments', true, { shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'] }),
  type('apps', 'ReplicaSet', 'replicasets', true, { shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'] }),
  type('apps', 'StatefulSet', 'statefulsets', true, { shortNames: ['sts'], categories: ['all'], subresources: ['status', 'scale'] }),
  type('apps', 'DaemonSet', 'daemonsets', true, { shortNames: ['ds'], categories: ['all'], subresources: ['status'] }),
  type('apps', 'ControllerRevision', 'controllerrevisions', true, { fields: ['data', 'revision'] }),
  // Served at v2 only: a group whose preferred version is not v1 (stored, no controller behind it).
  type('autoscaling', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true, { version: 'v2', shortNames: ['hpa'], categories: ['all'], subresources: ['status'] }),
];

export const GROUPS: readonly string[] = ['', 'apps', 'autoscaling'];

/** The one version each group serves. */
export function groupVersion(group: string): string {
  return RESOURCES.find((r) => r.group === group)?.version ?? 'v1';
}

export function apiVersionOf(resource: ResourceType): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

/** "deployments.apps": how the API server names a resource in error messages. */
export function qualifiedName(resource: ResourceType): string {
  return resource.group ? `${resource.plural}.${resource.group}` : resource.plural;
}

export function resourceFor(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function resourceByKind(kind: string, apiVersion?: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.kind.toLowerCase() === kind.toLowerCase() && (!apiVersion || apiVersionOf(r) === apiVersion));
}

/** For the direct-access API: accepts a kind ("Deployment"), plural ("deployments") or short name ("deploy"). */
export function resourceByAnyName(name: string): ResourceType {
  const wanted = name.toLowerCase().replace(/\.apps$/, '');
  const found = RESOURCES.find((r) =>
    r.kind.toLowerCase() === wanted || r.plural === wanted || r.singular === wanted || r.shortNames.includes(wanted));
  if (!found) throw new Error(`cluster simulator: unknown kind "${name}" (known: ${RESOURCES.map((r) => r.kind).join(', ')})`);
  return found;
}
