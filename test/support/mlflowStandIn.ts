/**
 * An MLflow tracking server stand-in, as MLflow 2.9+ / 3 answer: registered models, model versions
 * (get, search with pages, get-download-uri), aliases, MLflow 3 logged models, and the artifact
 * proxy (mlflow-artifacts: list and ranged download). Optional bearer-token auth. It records
 * requests so tests can check what was asked.
 */
import type * as http from 'node:http';
import { sendJson, startServer, type ServerTls } from './standInServer';

export interface StandInVersion {
  readonly version: string;
  readonly createdMs: number;
  readonly tags?: Record<string, string>;
  readonly status?: 'READY' | 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION';
  /** Where get-download-uri points: mlflow-artifacts:/<path>, models:/m-<id>, s3://..., as set. */
  readonly downloadUri: string;
}

export interface StandInModel {
  readonly versions: readonly StandInVersion[];
  readonly aliases?: Record<string, string>;
}

export interface MlflowStandInOptions {
  readonly models: Record<string, StandInModel>;
  /** MLflow 3 logged models: id -> artifact_uri. */
  readonly loggedModels?: Record<string, string>;
  /** Artifact proxy contents: path -> bytes. */
  readonly artifacts: Record<string, Buffer>;
  readonly token?: string;
  /** Versions per search page, to exercise paging. */
  readonly pageSize?: number;
  /** Serve under this path, as an Azure ML workspace does (/mlflow/v1.0/subscriptions/…/workspaces/<ws>). */
  readonly basePath?: string;
  readonly tls?: ServerTls;
  /** Entra tokens instead of a fixed one, as Azure ML's endpoint takes them: whether this token (audience included) is good. */
  readonly acceptsToken?: (token: string) => boolean;
  /** Answers the first Entra token it accepted with 401 'token expired' from this request on, as when it runs out mid-run. */
  readonly expireFirstTokenAfter?: number;
}

export interface MlflowStandIn {
  readonly uri: string;
  readonly requests: string[];
  /** Every distinct bearer token it was sent, in order. */
  readonly tokens: string[];
  close(): Promise<void>;
}

const notFound = (res: http.ServerResponse, what: string) => sendJson(res, 404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: `${what} not found` });

function versionJson(name: string, version: StandInVersion) {
  return {
    name,
    version: version.version,
    creation_timestamp: version.createdMs,
    last_updated_timestamp: version.createdMs,
    status: version.status ?? 'READY',
    source: version.downloadUri,
    tags: Object.entries(version.tags ?? {}).map(([key, value]) => ({ key, value })),
  };
}

export async function startMlflowStandIn(options: MlflowStandInOptions): Promise<MlflowStandIn> {
  const requests: string[] = [];
  const tokens: string[] = [];
  const base = options.basePath ?? '';
  const server = await startServer((req, res, full) => {
    requests.push(`${req.method} ${full.pathname}${full.search}`);
    if (!full.pathname.startsWith(`${base}/`)) return sendJson(res, 404, { error_code: 'ENDPOINT_NOT_FOUND', message: `no endpoint ${full.pathname}` });
    const url = new URL(full.pathname.slice(base.length) + full.search, full.origin);
    const refusal = authRefusal(req.headers.authorization, options, tokens, requests.length);
    if (refusal) return sendJson(res, 401, { error_code: 'UNAUTHENTICATED', message: refusal }, { 'www-authenticate': `Bearer error="invalid_token", error_description="${refusal}"` });
    const q = (key: string) => url.searchParams.get(key) ?? '';
    const model = options.models[q('name')];
    const find = (version: string) => model?.versions.find((candidate) => candidate.version === version);
    switch (url.pathname) {
      case '/api/2.0/mlflow/registered-models/get':
        return model ? sendJson(res, 200, { registered_model: { name: q('name') } }) : notFound(res, 'Registered Model');
      case '/api/2.0/mlflow/registered-models/alias': {
        const version = model?.aliases?.[q('alias')];
        return version ? sendJson(res, 200, { model_version: versionJson(q('name'), find(version)!) }) : notFound(res, 'Alias');
      }
      case '/api/2.0/mlflow/model-versions/get': {
        const version = find(q('version'));
        return version ? sendJson(res, 200, { model_version: versionJson(q('name'), version) }) : notFound(res, 'Model Version');
      }
      case '/api/2.0/mlflow/model-versions/get-download-uri': {
        const version = find(q('version'));
        return version ? sendJson(res, 200, { artifact_uri: version.downloadUri }) : notFound(res, 'Model Version');
      }
      case '/api/2.0/mlflow/model-versions/search': {
        const name = /^name='(.*)'$/.exec(q('filter'))?.[1] ?? '';
        const all = options.models[name]?.versions ?? [];
        const size = options.pageSize ?? 1000;
        const start = Number(q('page_token') || 0);
        const page = all.slice(start, start + size).map((version) => versionJson(name, version));
        return sendJson(res, 200, { model_versions: page, ...(start + size < all.length ? { next_page_token: String(start + size) } : {}) });
      }
      case '/api/2.0/mlflow-artifacts/artifacts': {
        const folder = q('path').replace(/\/+$/, '');
        const entries = new Map<string, { is_dir: boolean; file_size?: number }>();
        for (const [path, data] of Object.entries(options.artifacts)) {
          if (!path.startsWith(`${folder}/`)) continue;
          const rest = path.slice(folder.length + 1);
          const slash = rest.indexOf('/');
          entries.set(slash < 0 ? rest : rest.slice(0, slash), slash < 0 ? { is_dir: false, file_size: data.length } : { is_dir: true });
        }
        return sendJson(res, 200, { files: [...entries].map(([path, entry]) => ({ path, ...entry })) });
      }
    }
    const logged = /^\/api\/2\.0\/mlflow\/logged-models\/([^/]+)$/.exec(url.pathname);
    if (logged) {
      const uri = options.loggedModels?.[decodeURIComponent(logged[1])];
      return uri ? sendJson(res, 200, { model: { info: { model_id: logged[1], artifact_uri: uri } } }) : notFound(res, 'Logged Model');
    }
    const artifact = /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/.exec(url.pathname);
    if (artifact) {
      const data = options.artifacts[decodeURIComponent(artifact[1])];
      if (!data) return notFound(res, 'Artifact');
      const range = /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range ?? '');
      if (!range) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
        res.end(data);
        return;
      }
      const start = Number(range[1]);
      const end = Math.min(range[2] === undefined ? data.length - 1 : Number(range[2]), data.length - 1);
      res.writeHead(206, { 'content-type': 'application/octet-stream', 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${data.length}` });
      res.end(data.subarray(start, end + 1));
      return;
    }
    return sendJson(res, 404, { error_code: 'ENDPOINT_NOT_FOUND', message: `no endpoint ${url.pathname}` });
  }, options.tls);
  return { uri: `${server.origin}${base}`, requests, tokens, close: () => server.close() };
}

/** Why the request is refused, or undefined: a fixed token compared; an Entra token checked, and the first one expired when asked. */
function authRefusal(header: string | undefined, options: MlflowStandInOptions, tokens: string[], count: number): string | undefined {
  const token = /^Bearer (.+)$/.exec(header ?? '')?.[1];
  if (token && !tokens.includes(token)) tokens.push(token);
  if (options.token) return token === options.token ? undefined : 'You are not authenticated.';
  if (!options.acceptsToken) return undefined;
  if (!token || !options.acceptsToken(token)) return 'The access token is invalid or was obtained for another audience.';
  if (options.expireFirstTokenAfter !== undefined && token === tokens[0] && count > options.expireFirstTokenAfter) return 'The token is expired.';
  return undefined;
}
