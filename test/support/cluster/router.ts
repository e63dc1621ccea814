/** Turns a request path into what it addresses: discovery, OpenAPI, or a resource (collection, object, subresource). */
import { type ResourceType, GROUPS, groupVersion, resourceFor } from './resources';

export type Route =
  | { readonly type: 'version' | 'health' | 'openapiRoot' | 'openapiV2' }
  | { readonly type: 'apiRoot'; readonly legacy: boolean }
  | { readonly type: 'group'; readonly group: string }
  | { readonly type: 'groupVersion' | 'openapiDoc'; readonly group: string; readonly version: string }
  | {
    readonly type: 'resource';
    readonly resource: ResourceType;
    readonly namespace?: string;
    readonly name?: string;
    readonly subresource?: string;
  };

function servesGroupVersion(group: string, version: string): boolean {
  return GROUPS.includes(group) && version === groupVersion(group);
}

function resourceRoute(group: string, version: string, rest: string[]): Route | undefined {
  if (rest.length === 0) return { type: 'groupVersion', group, version };
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const resource = resourceFor(group, version, rest[2]);
    if (resource?.namespaced) {
      return rest.length > 5 ? undefined : { type: 'resource', resource, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
  }
  const resource = resourceFor(group, version, rest[0]);
  if (!resource || rest.length > 3) return undefined;
  // A namespaced object is only addressable inside its namespace; the bare path lists across namespaces.
  if (resource.namespaced && rest.length > 1) return undefined;
  return { type: 'resource', resource, name: rest[1], subresource: rest[2] };
}

export function route(pathname: string): Route | undefined {
  const s = pathname.split('/').filter((p) => p.length > 0).map(decodeURIComponent);
  if (s.length === 1 && s[0] === 'version') return { type: 'version' };
  if (s.length === 1 && ['healthz', 'livez', 'readyz'].includes(s[0])) return { type: 'health' };
  if (s[0] === 'openapi') {
    if (s[1] === 'v2' && s.length === 2) return { type: 'openapiV2' };
    if (s[1] !== 'v3') return undefined;
    if (s.length === 2) return { type: 'openapiRoot' };
    if (s[2] === 'api' && s[3] === 'v1' && s.length === 4) return { type: 'openapiDoc', group: '', version: 'v1' };
    if (s[2] === 'apis' && s.length === 5 && servesGroupVersion(s[3], s[4])) return { type: 'openapiDoc', group: s[3], version: s[4] };
    return undefined;
  }
  if (s[0] === 'api') {
    if (s.length === 1) return { type: 'apiRoot', legacy: true };
    return s[1] === 'v1' ? resourceRoute('', 'v1', s.slice(2)) : undefined;
  }
  if (s[0] === 'apis') {
    if (s.length === 1) return { type: 'apiRoot', legacy: false };
    if (!GROUPS.includes(s[1]) || s[1] === '') return undefined;
    if (s.length === 2) return { type: 'group', group: s[1] };
    return servesGroupVersion(s[1], s[2]) ? resourceRoute(s[1], s[2], s.slice(3)) : undefined;
  }
  return undefined;
}
