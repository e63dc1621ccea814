/**
 * The HTTP face of the simulator: authentication, the request log, routing to discovery, OpenAPI
 * and resource handlers, and errors as Status objects.
 */
import type * as http from 'node:http';
import { bearerToken, sendJson } from '../standInServer';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, discoveryContentType, versionInfo, wantedDiscoveryVersion } from './discovery';
import { ApiError, errors } from './errors';
import { handleResource, managerOf } from './handlers';
import type { ObjectApi } from './objectApi';
import { openApiDocument, openApiRoot } from './openapi';
import type { PodNetwork } from './podNetwork';
import { podProxyTarget, servePodProxy } from './podProxy';
import { route } from './router';
import type { Store } from './store';
import type { WatchSettings } from './watch';

export interface RequestRecord {
  readonly method: string;
  /** The URL path without the query string. */
  readonly path: string;
  readonly query: string;
  readonly contentType?: string;
  readonly fieldManager?: string;
  readonly accept?: string;
  readonly userAgent?: string;
}

export interface ApiServerConfig {
  readonly store: Store;
  readonly api: ObjectApi;
  readonly watch: WatchSettings;
  readonly kubernetesVersion: string;
  readonly token?: string;
  readonly requests: RequestRecord[];
  /** Where the pod proxy sends requests. */
  readonly pods: PodNetwork;
  readonly onError: (error: unknown) => void;
}

/** Like the real server's system:public-info-viewer: these answer without credentials. */
const PUBLIC = new Set(['version', 'health']);

function record(config: ApiServerConfig, req: http.IncomingMessage, url: URL): void {
  const contentType = req.headers['content-type'];
  const isWrite = ['POST', 'PUT', 'PATCH'].includes(req.method ?? '');
  config.requests.push({
    method: req.method ?? 'GET', path: url.pathname, query: url.search,
    ...(contentType ? { contentType } : {}),
    ...(isWrite ? { fieldManager: managerOf(req, url.searchParams) } : {}),
    ...(req.headers.accept ? { accept: req.headers.accept } : {}),
    ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
  });
}

function accepted(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((r) => /^\s*(application\/json|\*\/\*|application\/\*)/.test(r));
}

export function createApiHandler(config: ApiServerConfig): (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void> {
  const openApiDocs = new Map<string, string>();
  return async (req, res, url) => {
    record(config, req, url);
    try {
      const proxied = podProxyTarget(url);
      if (proxied) {
        if (config.token && bearerToken(req) !== config.token) throw errors.unauthorized();
        return await servePodProxy(config.api, config.pods, proxied, req, res);
      }
      const target = route(url.pathname);
      if (config.token && !(target && PUBLIC.has(target.type)) && bearerToken(req) !== config.token) throw errors.unauthorized();
      if (!target) throw errors.pathNotFound(url.pathname);
      const accept = req.headers.accept;
      switch (target.type) {
        case 'version': return sendJson(res, 200, versionInfo(config.kubernetesVersion));
        case 'health': return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        case 'apiRoot': {
          const version = wantedDiscoveryVersion(accept);
          if (version) return sendJson(res, 200, aggregatedDiscovery(target.legacy, version), { 'content-type': discoveryContentType(version), vary: 'Accept' });
          return sendJson(res, 200, target.legacy ? apiVersions(req.headers.host ?? '') : apiGroupList(), { vary: 'Accept' });
        }
        case 'group': return sendJson(res, 200, apiGroup(target.group));
        case 'groupVersion': return sendJson(res, 200, apiResourceList(target.group));
        case 'openapiRoot': return sendJson(res, 200, openApiRoot(config.kubernetesVersion));
        case 'openapiDoc': {
          const key = `${target.group}/${target.version}`;
          if (!openApiDocs.has(key)) openApiDocs.set(key, openApiDocument(target.group, target.version, config.kubernetesVersion).body);
          const body = openApiDocs.get(key) as string;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'public, immutable' });
          return void res.end(body);
        }
        case 'openapiV2': throw errors.pathNotFound(url.pathname);
        case 'resource':
          if (!accepted(accept)) throw errors.notAcceptable(accept ?? '');
          return await handleResource({ req, res, url, route: target, api: config.api, store: config.store, watch: config.watch, pods: config.pods });
      }
    } catch (error) {
      if (!(error instanceof ApiError)) config.onError(error);
      const status = error instanceof ApiError ? error : new ApiError(500, 'InternalError', `cluster simulator: ${String((error as Error)?.stack ?? error)}`);
      if (!res.headersSent) sendJson(res, status.code, status.toStatus());
      else res.end();
    }
  };
}
