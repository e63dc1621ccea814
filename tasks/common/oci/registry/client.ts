/**
 * A small OCI distribution client: manifests, blob HEAD/GET/mount and the requests an upload is
 * made of. Every request goes through `call`, which adds auth, renews it on 401, follows
 * redirects (ACR serves blobs from storage) and retries what is worth retrying.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RemoteError, TaskError, isTransient } from '../../errors';
import type { Log } from '../../log';
import { manifestAccept } from '../mediaTypes';
import { Authenticator, summarize, type RegistryCredential } from './auth';
import { HttpClient, HttpError, type HttpResponse } from './http';

export interface RegistryClientOptions {
  readonly credential: RegistryCredential;
  /** Plain HTTP instead of HTTPS (allowInsecureRegistry). */
  readonly insecure: boolean;
  /** Token scopes to ask for, e.g. repository:app:pull,push and repository:base:pull. */
  readonly scopes: readonly string[];
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly idleTimeoutMs: number;
  readonly ca?: string;
  readonly log: Log;
  readonly onSecret: (value: string) => void;
}

export interface CallOptions {
  readonly headers?: Readonly<Record<string, string | number>>;
  /** A fresh body per attempt: a stream cannot be sent twice. */
  readonly body?: () => Buffer | Readable;
  /** Statuses that are a result rather than an error. */
  readonly expect: readonly number[];
  /** Whether a failed attempt may be sent again as it is (false for a PATCH that may have half-landed). */
  readonly retry?: boolean;
}

export interface Manifest {
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly digest: string;
}

const MAX_REDIRECTS = 5;

export class RegistryClient {
  readonly http: HttpClient;
  private readonly auth: Authenticator;

  constructor(
    readonly registry: string,
    readonly options: RegistryClientOptions,
  ) {
    this.http = new HttpClient({ ca: options.ca, idleTimeoutMs: options.idleTimeoutMs });
    this.auth = new Authenticator(registry, options.credential, this.http, options.scopes, options.onSecret);
  }

  url(path: string): URL {
    return new URL(path, `${this.options.insecure ? 'http' : 'https'}://${this.registry}`);
  }

  /** One request with auth, redirects and retries; resolves with a response whose status is expected. */
  async call(method: string, target: string | URL, options: CallOptions): Promise<HttpResponse> {
    const url = typeof target === 'string' ? this.url(target) : target;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(method, url, options);
      } catch (error) {
        if (options.retry === false || attempt >= this.options.retries || !isTransient(error)) throw error;
        this.options.log.debug(`registry ${method} ${url.pathname} failed (${(error as Error).message}); retry ${attempt + 1} of ${this.options.retries}`);
        await delay(this.options.retryDelayMs * 2 ** attempt);
      }
    }
  }

  private async attempt(method: string, start: URL, options: CallOptions): Promise<HttpResponse> {
    let url = start;
    let renewed = false;
    for (let hop = 0; hop <= MAX_REDIRECTS; ) {
      // Credentials go to the registry only, never to the storage host a redirect points at.
      const authorization = url.host === this.registry ? this.auth.current() : undefined;
      const headers = { ...options.headers, ...(authorization ? { authorization } : {}) };
      const response = await this.http.send({ method, url, headers, body: options.body?.() });
      if (response.status === 401 && url.host === this.registry && !renewed) {
        await response.discard();
        await this.auth.renew(response.header('www-authenticate'), authorization);
        renewed = true;
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(response.status) && response.header('location')) {
        await response.discard();
        url = new URL(response.header('location')!, url);
        hop++;
        continue;
      }
      if (options.expect.includes(response.status)) return response;
      throw await this.failure(method, url, response);
    }
    throw new HttpError(`too many redirects from ${start.host}`, undefined, 'EREDIRECTS');
  }

  private async failure(method: string, url: URL, response: HttpResponse): Promise<Error> {
    const detail = summarize(await response.text().catch(() => ''));
    const where = `${method} ${url.host}${url.pathname}`;
    if (response.status === 401 && this.auth.usesBasic()) return new RemoteError('RegistryCredentialsRejected', [this.registry, where, 401, detail]);
    if (response.status === 401) return new RemoteError('RegistryUnauthorized', [this.registry, where, detail]);
    if (response.status === 403) return new RemoteError('RegistryForbidden', [this.registry, where, detail]);
    return new HttpError(`${where} answered HTTP ${response.status}: ${detail}`, response.status);
  }

  async getManifest(repository: string, reference: string): Promise<Manifest> {
    const response = await this.call('GET', `/v2/${repository}/manifests/${reference}`, { headers: { accept: manifestAccept }, expect: [200, 404] });
    if (response.status === 404) {
      await response.discard();
      throw new TaskError('ImageNotFound', [`${this.registry}/${repository}`, reference]);
    }
    const bytes = Buffer.from(await response.text(), 'utf8');
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const mediaType = response.header('content-type')?.split(';')[0].trim() ?? '';
    return { mediaType: (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? mediaType, bytes, digest };
  }

  /** A blob's bytes from offset, following the registry's redirect to storage. */
  async openBlob(repository: string, digest: string, offset = 0): Promise<Readable> {
    const headers = offset > 0 ? { range: `bytes=${offset}-` } : undefined;
    const response = await this.call('GET', `/v2/${repository}/blobs/${digest}`, { headers, expect: [200, 206] });
    if (offset > 0 && response.status !== 206) {
      await response.discard();
      throw new HttpError(`${this.registry} ignored a range request for ${digest}`, undefined, 'ERANGE');
    }
    return response.body;
  }

  async readBlob(repository: string, digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.openBlob(repository, digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.call('HEAD', `/v2/${repository}/blobs/${digest}`, { expect: [200, 404] });
    await response.discard();
    return response.status === 200;
  }

  /** Cross-repository mount. Returns undefined when mounted, else the upload session the registry opened instead. */
  async mountBlob(repository: string, digest: string, from: string): Promise<URL | undefined> {
    const query = new URLSearchParams({ mount: digest, from });
    const response = await this.call('POST', `/v2/${repository}/blobs/uploads/?${query}`, { expect: [201, 202], headers: { 'content-length': 0 } });
    await response.discard();
    return response.status === 201 ? undefined : this.locationOf(response);
  }

  async startUpload(repository: string): Promise<URL> {
    const response = await this.call('POST', `/v2/${repository}/blobs/uploads/`, { expect: [202], headers: { 'content-length': 0 } });
    await response.discard();
    return this.locationOf(response);
  }

  locationOf(response: HttpResponse): URL {
    const location = response.header('location');
    if (!location) throw new HttpError(`${this.registry} opened an upload without a Location header`, 502);
    return new URL(location, this.url('/'));
  }

  async putManifest(repository: string, reference: string, manifest: { mediaType: string; bytes: Buffer; digest: string }): Promise<void> {
    const response = await this.call('PUT', `/v2/${repository}/manifests/${reference}`, {
      headers: { 'content-type': manifest.mediaType, 'content-length': manifest.bytes.length },
      body: () => manifest.bytes,
      expect: [201, 200],
    });
    await response.discard();
    checkDigest(this.registry, response, manifest.digest);
  }

  /** Authenticates once (GET /v2/) and returns credentials for another tool, such as buildah push. */
  async loginCredentials(): Promise<{ username: string; password: string } | undefined> {
    await (await this.call('GET', '/v2/', { expect: [200] })).discard();
    return this.auth.loginCredentials();
  }

  close(): void {
    this.http.close();
  }
}

/** The registry must agree on what it stored; a mismatch means corruption in transit or a broken proxy. */
export function checkDigest(registry: string, response: HttpResponse, expected: string): void {
  const reported = response.header('docker-content-digest');
  if (reported && reported !== expected) throw new RemoteError('RegistryDigestMismatch', [registry, expected, reported]);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
