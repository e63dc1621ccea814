/**
 * Discovery documents. kubectl 1.30 asks /api and /apis for the aggregated form
 * (apidiscovery.k8s.io/v2 APIGroupDiscoveryList, chosen by the Accept header) and falls back to the
 * legacy per-group-version APIResourceLists; client-node uses the legacy form. Both come from resources.ts.
 */
import { type ResourceType, GROUPS, RESOURCES, VERBS, groupVersion } from './resources';

export interface VersionInfo {
  major: string; minor: string; gitVersion: string; gitCommit: string; gitTreeState: string;
  buildDate: string; goVersion: string; compiler: string; platform: string;
}

/** `version` like "1.30.13". The kubectl dispatcher here picks its client from `minor`. */
export function versionInfo(version: string): VersionInfo {
  const [major, minor] = version.split('.');
  return {
    major, minor, gitVersion: `v${version}`, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
    buildDate: '2025-05-15T00:00:00Z', goVersion: 'go1.23.8', compiler: 'gc', platform: 'linux/amd64',
  };
}

const subresourceVerbs = (sub: string) => (sub === 'log' ? ['get'] : ['get', 'patch', 'update']);

function inGroup(group: string): ResourceType[] {
  return RESOURCES.filter((r) => r.group === group);
}

function responseKind(resource: ResourceType, subresource?: string): Record<string, string> {
  if (subresource === 'scale') return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
  if (subresource === 'log') return { group: '', version: 'v1', kind: 'string' };
  return { group: resource.group, version: resource.version, kind: resource.kind };
}

export function apiVersions(serverAddress: string): unknown {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupEntry(group: string): unknown {
  const version = groupVersion(group);
  const gv = { groupVersion: `${group}/${version}`, version };
  return { name: group, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.filter((g) => g !== '').map(groupEntry) };
}

export function apiGroup(group: string): unknown {
  return { kind: 'APIGroup', apiVersion: 'v1', ...(groupEntry(group) as object) };
}

export function apiResourceList(group: string): unknown {
  const resources = inGroup(group).flatMap((r) => [
    {
      name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: [...VERBS],
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(r.categories.length ? { categories: r.categories } : {}),
    },
    ...r.subresources.map((sub) => ({
      name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced, verbs: subresourceVerbs(sub),
      ...responseKind(r, sub),
    })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${groupVersion(group)}` : 'v1', resources };
}

function groupDiscovery(group: string): unknown {
  const resources = inGroup(group).map((r) => ({
    resource: r.plural, responseKind: responseKind(r), scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular, verbs: [...VERBS],
    ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(r.categories.length ? { categories: r.categories } : {}),
    ...(r.subresources.length ? {
      subresources: r.subresources.map((sub) => ({ subresource: sub, responseKind: responseKind(r, sub), verbs: subresourceVerbs(sub) })),
    } : {}),
  }));
  return {
    metadata: { ...(group ? { name: group } : {}), creationTimestamp: null },
    versions: [{ version: groupVersion(group), resources, freshness: 'Current' }],
  };
}

/** The aggregated discovery document for /api (legacy: the core group only) or /apis. */
export function aggregatedDiscovery(legacy: boolean, version: string): unknown {
  const groups = legacy ? [''] : GROUPS.filter((g) => g !== '');
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items: groups.map(groupDiscovery) };
}

/** Which aggregated discovery version the Accept header asks for first, if any. */
export function wantedDiscoveryVersion(accept: string | undefined): string | undefined {
  for (const range of (accept ?? '').split(',')) {
    const params = Object.fromEntries(range.split(';').slice(1).map((p) => p.trim().split('=') as [string, string]));
    if (params.g === 'apidiscovery.k8s.io' && params.as === 'APIGroupDiscoveryList' && (params.v === 'v2' || params.v === 'v2beta1')) {
      return params.v;
    }
  }
  return undefined;
}

export function discoveryContentType(version: string): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

