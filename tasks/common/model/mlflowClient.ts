/**
 * The MLflow tracking server's REST API, as Fetch needs it: registered model versions (by alias,
 * by version, or all of them), their download URI, MLflow 3 logged models, and the artifact proxy
 * (mlflow-artifacts) for listing and ranged reads. Every call goes through the network layer with
 * the task's signal and retry policy; JSON answers are bounded.
 */
import type { Readable } from 'node:stream';
import { RemoteError, SettingError } from '../errors';
import type { Log } from '../log';
import { BODY_LIMITS, type NetResponse } from '../net/body';
import type { Network } from '../net/network';
import { retry, type RetryPolicy } from '../net/retry';
import { bearerAuth, type MlflowAuth } from './mlflowAuth';
import type { ModelSetting } from './settings';

export interface MlflowModelVersion {
  readonly name: string;
  readonly version: string;
  readonly creation_timestamp?: number;
  readonly last_updated_timestamp?: number;
  readonly status?: string;
  readonly source?: string;
  readonly tags?: readonly { key: string; value: string }[];
}

export interface MlflowArtifact {
  readonly path: string;
  readonly is_dir?: boolean;
  readonly file_size?: number | string;
}

export interface MlflowClientOptions {
  readonly trackingUri: URL;
  /** A bearer token (Databricks, managed MLflow, an auth proxy); never logged. */
  readonly token?: string;
  /** Instead of a fixed token: Entra tokens for an Azure ML workspace (mlflowAuth.ts). */
  readonly auth?: MlflowAuth;
  readonly network: Network;
  readonly signal: AbortSignal;
  readonly retry: RetryPolicy;
  readonly log: Log;
}

const MAX_PAGES = 50;

export class MlflowClient {
  constructor(private readonly options: MlflowClientOptions) {}

  get location(): string {
    return this.options.trackingUri.origin + this.options.trackingUri.pathname.replace(/\/+$/, '');
  }

  private url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(`${this.location}${path}`);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    return url;
  }

  private async send(url: URL, headers: Record<string, string> = {}): Promise<NetResponse> {
    const auth = this.options.auth ?? bearerAuth(this.options.token);
    const once = async () => {
      const authorization = await auth.header();
      const operation = async () => {
        const response = await this.options.network.send({ method: 'GET', url, headers: { accept: 'application/json', ...headers, ...(authorization ? { authorization } : {}) }, signal: this.options.signal });
        if (response.status >= 500 || response.status === 429) throw await response.statusError();
        return response;
      };
      return retry(operation, this.options.retry, { signal: this.options.signal, onRetry: ({ attempt, error }) => this.options.log.debug(`MLflow GET ${url.pathname} failed (${(error as Error)?.message}); attempt ${attempt + 1}`) });
    };
    const response = await once();
    // An expired or revoked Entra token: one fresh token, one more try.
    if (response.status !== 401 || !(await auth.renew(response.header('www-authenticate')))) return response;
    await response.discard();
    this.options.log.debug(`MLflow GET ${url.pathname}: the token was refused; trying once more with a fresh one`);
    return once();
  }

  /** A JSON answer; undefined for RESOURCE_DOES_NOT_EXIST (404). */
  private async getJson<T>(path: string, query: Record<string, string> = {}): Promise<T | undefined> {
    const response = await this.send(this.url(path, query));
    if (response.status === 404) {
      await response.discard();
      return undefined;
    }
    if (response.status === 401 || response.status === 403) {
      const error = await response.statusError();
      throw new SettingError<ModelSetting>('trackingCredential', 'MlflowUnauthorized', [this.location, response.status, error.detail]);
    }
    if (response.status !== 200) throw await response.statusError();
    return response.json<T>(BODY_LIMITS.manifest, `the answer to ${path}`);
  }

  async versionByAlias(name: string, alias: string): Promise<MlflowModelVersion | undefined> {
    return (await this.getJson<{ model_version?: MlflowModelVersion }>('/api/2.0/mlflow/registered-models/alias', { name, alias }))?.model_version;
  }

  async version(name: string, version: string): Promise<MlflowModelVersion | undefined> {
    return (await this.getJson<{ model_version?: MlflowModelVersion }>('/api/2.0/mlflow/model-versions/get', { name, version }))?.model_version;
  }

  /** Every version of the model, page by page; undefined when the model does not exist. */
  async versions(name: string): Promise<MlflowModelVersion[] | undefined> {
    if (!(await this.getJson('/api/2.0/mlflow/registered-models/get', { name }))) return undefined;
    const all: MlflowModelVersion[] = [];
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query: Record<string, string> = { filter: `name='${name.replace(/'/g, "\\'")}'`, max_results: '1000', ...(token ? { page_token: token } : {}) };
      const answer = await this.getJson<{ model_versions?: MlflowModelVersion[]; next_page_token?: string }>('/api/2.0/mlflow/model-versions/search', query);
      all.push(...(answer?.model_versions ?? []));
      token = answer?.next_page_token;
      if (!token) break;
    }
    return all;
  }

  async downloadUri(name: string, version: string): Promise<string> {
    const answer = await this.getJson<{ artifact_uri?: string }>('/api/2.0/mlflow/model-versions/get-download-uri', { name, version });
    if (typeof answer?.artifact_uri !== 'string') throw new RemoteError('MlflowAnswerInvalid', [this.location, 'get-download-uri gave no artifact_uri']);
    return answer.artifact_uri;
  }

  /** MLflow 3: where a logged model (models:/m-…) keeps its artifacts; undefined when the server does not know it. */
  async loggedModelArtifacts(modelId: string): Promise<string | undefined> {
    const answer = await this.getJson<{ model?: { info?: { artifact_uri?: string } } }>(`/api/2.0/mlflow/logged-models/${encodeURIComponent(modelId)}`);
    return answer?.model?.info?.artifact_uri;
  }

  /** One folder of the artifact proxy. */
  async listArtifacts(path: string): Promise<MlflowArtifact[]> {
    const answer = await this.getJson<{ files?: MlflowArtifact[] }>('/api/2.0/mlflow-artifacts/artifacts', { path });
    return answer?.files ?? [];
  }

  /** Bytes [offset, offset + count) of a proxied artifact. */
  async openArtifact(path: string, offset: number, count: number): Promise<Readable> {
    const url = this.url(`/api/2.0/mlflow-artifacts/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`);
    const response = await this.send(url, { range: `bytes=${offset}-${offset + count - 1}`, accept: '*/*' });
    if (response.status === 206 || (response.status === 200 && offset === 0)) return response.body;
    if (response.status === 200) {
      await response.discard();
      throw new RemoteError('MlflowRangeIgnored', [this.location, path]);
    }
    throw await response.statusError();
  }
}
