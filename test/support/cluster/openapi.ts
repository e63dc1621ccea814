/**
 * A minimal OpenAPI v3. kubectl apply (validation "Strict" by default) looks up the PATCH operation of
 * the object's group-version-kind here: when it lists a `fieldValidation` parameter, kubectl leaves
 * validation to the server and sends `fieldValidation=Strict`; otherwise it would fall back to
 * /openapi/v2 (protobuf) and client-side schema validation. Schemas are deliberately open: no
 * strategic-merge-patch in the request bodies, so client-side apply uses kubectl's built-in types.
 */
import { createHash } from 'node:crypto';
import { type ResourceType, RESOURCES } from './resources';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function schemaName(r: ResourceType): string {
  return `io.k8s.api.${r.group || 'core'}.${r.version}.${r.kind}`;
}

const queryParam = (name: string, type = 'string') => ({ name, in: 'query', schema: { type, uniqueItems: true } });

function operation(r: ResourceType, action: string, params: string[], bodyTypes?: string[]): unknown {
  const ref = { $ref: `#/components/schemas/${schemaName(r)}` };
  return {
    operationId: `${action}${r.group ? r.group[0].toUpperCase() + r.group.slice(1) : 'Core'}V1${r.namespaced ? 'Namespaced' : ''}${r.kind}`,
    parameters: params.map((p) => queryParam(p, p === 'force' ? 'boolean' : 'string')),
    ...(bodyTypes ? { requestBody: { content: Object.fromEntries(bodyTypes.map((t) => [t, { schema: ref }])), required: true } } : {}),
    responses: { 200: { description: 'OK', content: { 'application/json': { schema: ref } } } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
  };
}

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];
const WRITE_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'];

function pathsFor(r: ResourceType): Record<string, unknown> {
  const base = `/${gvPath(r.group, r.version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}`;
  const item = {
    get: operation(r, 'get', []),
    put: operation(r, 'put', WRITE_PARAMS, ['*/*']),
    patch: operation(r, 'patch', [...WRITE_PARAMS, 'force'], PATCH_TYPES),
    delete: operation(r, 'delete', ['dryRun', 'propagationPolicy']),
  };
  const paths: Record<string, unknown> = {
    [base]: { get: operation(r, 'list', ['labelSelector', 'fieldSelector', 'watch']), post: operation(r, 'post', WRITE_PARAMS, ['*/*']) },
    [`${base}/{name}`]: item,
  };
  if (r.subresources.includes('status')) paths[`${base}/{name}/status`] = item;
  return paths;
}

function schema(r: ResourceType): unknown {
  return {
    description: `${r.kind} (the cluster simulator publishes an open schema).`,
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      ...Object.fromEntries(r.fields.map((f) => [f, { 'x-kubernetes-preserve-unknown-fields': true }])),
    },
    'x-kubernetes-group-version-kind': [{ group: r.group, version: r.version, kind: r.kind }],
  };
}

export interface OpenApiDocument { readonly body: string; readonly hash: string }

export function openApiDocument(group: string, version: string, kubernetesVersion: string): OpenApiDocument {
  const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
  const doc = {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: `v${kubernetesVersion}` },
    paths: Object.assign({}, ...resources.map(pathsFor)) as Record<string, unknown>,
    components: { schemas: Object.fromEntries(resources.map((r) => [schemaName(r), schema(r)])) },
  };
  const body = JSON.stringify(doc);
  return { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
}

/** /openapi/v3: where each group-version's document lives (the hash lets clients cache it). */
export function openApiRoot(kubernetesVersion: string): unknown {
  const gvs = [...new Set(RESOURCES.map((r) => `${r.group}|${r.version}`))].map((k) => k.split('|') as [string, string]);
  return {
    paths: Object.fromEntries(gvs.map(([g, v]) => {
      const path = gvPath(g, v);
      return [path, { serverRelativeURL: `/openapi/v3/${path}?hash=${openApiDocument(g, v, kubernetesVersion).hash}` }];
    })),
  };
}
