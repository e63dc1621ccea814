/** The REST verbs on resources: get, list, watch, create, update, patch (incl. apply), delete, and /scale. */
import type * as http from 'node:http';
import { readBody, sendJson } from '../standInServer';
import { errors } from './errors';
import type { ObjectApi, WriteOptions } from './objectApi';
import { apiVersionOf } from './resources';
import { applyJsonPatch, applyMergePatch, strategicMerge } from './patch';
import type { Route } from './router';
import { labelSelectorString, parseFieldSelector, parseLabelSelector } from './selectors';
import type { Store } from './store';
import { toTable, wantsTable } from './tables';
import type { PodNetwork } from './podNetwork';
import { podLog, sendLog } from './podLogs';
import type { Deployment, KubeObject, Pod } from './types';
import { isMap } from './types';
import { type WatchSettings, serveWatch } from './watch';

export interface RequestContext {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly url: URL;
  readonly route: Extract<Route, { type: 'resource' }>;
  readonly api: ObjectApi;
  readonly store: Store;
  readonly watch: WatchSettings;
  readonly pods: PodNetwork;
}

/** The field manager of a request: fieldManager, or the user agent's product ("kubectl" from "kubectl/v1.30.13 (...)"). */
export function managerOf(req: http.IncomingMessage, params: URLSearchParams): string {
  return params.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0].slice(0, 128);
}

async function parseBody(req: http.IncomingMessage, contentType: string): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (contentType !== 'application/apply-patch+yaml') throw errors.badRequest(`the body of the request could not be decoded as JSON: ${(error as Error).message}`);
  }
  // YAML is only expected from hand-written apply requests; js-yaml arrives with @kubernetes/client-node.
  const yaml = await import('js-yaml');
  return yaml.load(text);
}

function writeOptions(ctx: RequestContext, warnings: string[]): WriteOptions & { force?: boolean } {
  const p = ctx.url.searchParams;
  return {
    manager: managerOf(ctx.req, p), subresource: ctx.route.subresource, dryRun: p.get('dryRun') === 'All',
    fieldValidation: p.get('fieldValidation') ?? undefined, warnings, force: p.get('force') === 'true',
  };
}

function respond(ctx: RequestContext, status: number, body: unknown, warnings: string[] = []): void {
  const headers: http.OutgoingHttpHeaders = {};
  if (warnings.length > 0) headers.warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(", ");
  const { resource } = ctx.route;
  const accept = ctx.req.headers.accept;
  if (wantsTable(accept) && isMap(body) && body.kind !== 'Status') {
    const objects = Array.isArray(body.items) ? (body.items as KubeObject[]) : [body as KubeObject];
    const rv = String(isMap(body.metadata) ? body.metadata.resourceVersion ?? '' : '');
    return sendJson(ctx.res, status, toTable(resource, objects, rv, ctx.url.searchParams.get('includeObject')), headers);
  }
  sendJson(ctx.res, status, body, headers);
}

function scaleOf(object: KubeObject): unknown {
  const d = object as Deployment;
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata.creationTimestamp },
    spec: { replicas: d.spec.replicas },
    status: { replicas: d.status?.replicas ?? 0, selector: labelSelectorString(d.spec.selector ?? {}) },
  };
}

async function handleScale(ctx: RequestContext, method: string, name: string): Promise<void> {
  const { api, route } = ctx;
  const current = api.get(route.resource, route.namespace, name);
  if (method === 'GET') return respond(ctx, 200, scaleOf(current));
  const contentType = (ctx.req.headers['content-type'] ?? '').split(';')[0].trim();
  const body = await parseBody(ctx.req, contentType);
  let replicas: unknown;
  if (method === 'PUT') replicas = isMap(body) && isMap(body.spec) ? body.spec.replicas : undefined;
  else if (method === 'PATCH') {
    const scale = scaleOf(current);
    const patched = contentType === 'application/json-patch+json' ? applyJsonPatch(scale, body)
      : contentType === 'application/merge-patch+json' ? applyMergePatch(scale, body) : strategicMerge(scale, body);
    replicas = isMap(patched) && isMap(patched.spec) ? patched.spec.replicas : undefined;
  } else throw errors.methodNotAllowed();
  if (typeof replicas !== 'number' || replicas < 0) throw errors.badRequest('spec.replicas must be a non-negative integer');
  const updated = api.modify(route.resource, route.namespace, name, { manager: managerOf(ctx.req, ctx.url.searchParams), subresource: 'scale' }, (o) => {
    (o as Deployment).spec.replicas = replicas as number;
  }) ?? current;
  respond(ctx, 200, scaleOf(updated));
}

function list(ctx: RequestContext): void {
  const { route, url, api, store } = ctx;
  const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
  const fields = parseFieldSelector(url.searchParams.get('fieldSelector'), route.resource);
  const matcher = (o: KubeObject) => labels(o) && fields(o);
  if (['1', 'true'].includes(url.searchParams.get('watch') ?? '')) {
    let first = true;
    // The real server sends column definitions with the first row only.
    const present = wantsTable(ctx.req.headers.accept) ? (o: KubeObject) => {
      const table = toTable(route.resource, [o], o.metadata.resourceVersion ?? '', url.searchParams.get('includeObject')) as Record<string, unknown>;
      if (!first) table.columnDefinitions = [];
      first = false;
      return table;
    } : undefined;
    return serveWatch(ctx.req, ctx.res, { resource: route.resource, namespace: route.namespace, matcher, params: url.searchParams, present }, ctx.watch);
  }
  const rv = String(store.resourceVersion);
  const items = api.list(route.resource, route.namespace, matcher);
  respond(ctx, 200, { kind: `${route.resource.kind}List`, apiVersion: apiVersionOf(route.resource), metadata: { resourceVersion: rv }, items });
}

export async function handleResource(ctx: RequestContext): Promise<void> {
  const { req, route, api, url } = ctx;
  const { resource, namespace, name, subresource } = route;
  const method = req.method ?? 'GET';
  if (subresource && !resource.subresources.includes(subresource)) throw errors.pathNotFound(url.pathname);
  if (subresource === 'scale' && name) return handleScale(ctx, method, name);
  if (subresource === 'log' && name && method === 'GET') return sendLog(ctx.res, podLog(api.get(resource, namespace, name) as Pod, url.searchParams, ctx.pods));
  const contentType = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim();
  const warnings: string[] = [];
  if (method === 'GET') return name ? respond(ctx, 200, api.get(resource, namespace, name)) : list(ctx);
  if (method === 'POST' && !name && !subresource) {
    return respond(ctx, 201, api.create(resource, namespace, await parseBody(req, contentType), writeOptions(ctx, warnings)), warnings);
  }
  if (method === 'PUT' && name) {
    return respond(ctx, 200, api.update(resource, namespace, name, await parseBody(req, contentType), writeOptions(ctx, warnings)), warnings);
  }
  if (method === 'PATCH' && name) {
    const existed = api.tryGet(resource, namespace, name) !== undefined;
    const result = api.patch(resource, namespace, name, contentType, await parseBody(req, contentType), writeOptions(ctx, warnings));
    return respond(ctx, existed ? 200 : 201, result, warnings);
  }
  if (method === 'DELETE') {
    const body = await parseBody(req, contentType);
    const options = isMap(body) ? body : {};
    const propagationPolicy = url.searchParams.get('propagationPolicy') ?? (typeof options.propagationPolicy === 'string' ? options.propagationPolicy : undefined);
    const deleteOptions = {
      propagationPolicy, dryRun: url.searchParams.get('dryRun') === 'All' || (Array.isArray(options.dryRun) && options.dryRun.includes('All')),
      preconditions: isMap(options.preconditions) ? options.preconditions as { uid?: string; resourceVersion?: string } : undefined,
    };
    if (name) {
      const gone = api.delete(resource, namespace, name, deleteOptions);
      return respond(ctx, 200, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
        details: { name, group: resource.group, kind: resource.plural, uid: gone.metadata.uid },
      });
    }
    const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector'), resource);
    const doomed = api.list(resource, namespace, (o) => labels(o) && fields(o));
    const items = doomed.map((o) => api.delete(resource, o.metadata.namespace, o.metadata.name ?? '', deleteOptions));
    return respond(ctx, 200, { kind: `${resource.kind}List`, apiVersion: apiVersionOf(resource), metadata: { resourceVersion: String(ctx.store.resourceVersion) }, items });
  }
  throw errors.methodNotAllowed();
}
