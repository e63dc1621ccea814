/**
 * A small OCI distribution client: manifests, blob HEAD/GET/mount and the requests an upload is
 * made of. Every request is one `send` of the network layer with the task's signal; `call` adds
 * auth (renewed on 401), follows redirects only where credentials may go, and retries under the
 * task's policy. What is fetched by digest is hashed and compared before it is returned.
 */
import type { Readable } from 'node:stream';
import { RemoteError, TaskError } from '../../errors';
import type { Log } from '../../log';
import { BODY_LIMITS, type NetResponse } from '../../net/body';
import { HttpStatusError, NetworkError, type RetryVerdict } from '../../net/errors';
import type { NetRequest, Network } from '../../net/network';
import { MAX_REDIRECTS, redirectHop, sameOrigin } from '../../net/origin';
import { retry, type RetryPolicy } from '../../net/retry';
import { assertDigest, digestLike, isContentDigest } from '../digest';
import { manifestAccept } from '../mediaTypes';
import { Authenticator, type RegistryCredential } from './auth';

export interface RegistryClientOptions {
  readonly network: Network;
  /** The task's cancel and overall deadline: every request and every pause between retries ends with it. */
  readonly signal: AbortSignal;
  readonly credential: RegistryCredential;
  /** Plain HTTP instead of HTTPS: only where the user allowed an insecure registry. */
  readonly insecure: boolean;
  /** Token scopes to ask for, e.g. repository:app:pull,push and repository:base:pull. */
  readonly scopes: readonly string[];
  readonly retryPolicy: RetryPolicy;
  /** A private registry's CA (PEM), trusted besides the agent's. */
  readonly ca?: string;
  readonly log: Log;
  readonly onSecret: (value: string) => void;
}

export interface CallOptions {
  readonly headers?: Readonly<Record<string, string | number>>;
  /** A fresh body per request: a stream cannot be sent twice. */
  readonly body?: () => Buffer | Readable;
  /** Statuses that are a result rather than an error. */
  readonly expect: readonly number[];
  /** Whether a failed attempt may be sent again as it is (false for a PATCH that may have half-landed). */
  readonly retry?: boolean;
}

export interface Manifest {
  /** From the Content-Type header; the JSON's own mediaType wins where it has one. */
  readonly contentType: string;
  readonly bytes: Buffer;
  readonly digest: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** 100 pages of 1000 tags: a registry that keeps paging past that is not listed further. */
const MAX_TAG_PAGES = 100;

export class RegistryClient {
  /** scheme://host[:port] of the registry: the one origin its credentials belong to. */
  readonly origin: URL;
  private readonly auth: Authenticator;

  constructor(
    readonly registry: string,
    readonly options: RegistryClientOptions,
  ) {
    this.origin = new URL(`${options.insecure ? 'http' : 'https'}://${registry}`);
    this.auth = new Authenticator({ ...options, registry, origin: this.origin, send: (request) => this.send(request) });
  }

  url(path: string): URL {
    return new URL(path, this.origin);
  }

  /** Exactly one request, with the task's signal and this registry's CA. */
  send(request: Omit<NetRequest, 'signal' | 'tls'>): Promise<NetResponse> {
    return this.options.network.send({ ...request, signal: this.options.signal, ...(this.options.ca ? { tls: { extraCa: this.options.ca } } : {}) });
  }

  /** `operation` under the task's retry policy; each retry is a debug line. */
  retrying<T>(what: string, operation: (attempt: number) => Promise<T>, classify?: (error: unknown) => RetryVerdict | undefined): Promise<T> {
    return retry(operation, this.options.retryPolicy, {
      signal: this.options.signal,
      classify,
      onRetry: ({ attempt, attempts, error, delayMs }) => this.options.log.debug(`${what} failed (${(error as Error)?.message}); attempt ${attempt + 1} of ${attempts} in ${delayMs} ms`),
    });
  }

  /** One request with auth, redirects and retries; resolves with a response whose status is expected. */
  call(method: string, target: string | URL, options: CallOptions): Promise<NetResponse> {
    const url = typeof target === 'string' ? this.url(target) : target;
    if (options.retry === false) return this.attempt(method, url, options);
    return this.retrying(`registry ${method} ${url.pathname}`, () => this.attempt(method, url, options));
  }

  private async attempt(method: string, start: URL, options: CallOptions): Promise<NetResponse> {
    let url = start;
    // Credentials go to the registry's own origin only, never to where a redirect points elsewhere.
    let credentials = sameOrigin(url, this.origin);
    let renewed = false;
    for (let hops = 0; ; ) {
      const authorization = credentials ? this.auth.current() : undefined;
      const headers = { ...options.headers, ...(authorization ? { authorization } : {}) };
      const response = await this.send({ method, url, headers, body: options.body?.() });
      if (response.status === 401 && credentials && !renewed) {
        await response.discard();
        await this.auth.renew(response.header('www-authenticate'), authorization);
        renewed = true;
        continue;
      }
      const location = REDIRECTS.has(response.status) ? response.header('location') : undefined;
      if (location !== undefined) {
        await response.discard();
        if (++hops > MAX_REDIRECTS) throw new RemoteError('RegistryTooManyRedirects', [this.registry, `${method} ${start.pathname}`, MAX_REDIRECTS]);
        const hop = redirectHop(url, location);
        url = hop.url;
        credentials &&= hop.keepCredentials;
        continue;
      }
      if (options.expect.includes(response.status)) return response;
      throw await this.failure(method, url, response);
    }
  }

  private async failure(method: string, url: URL, response: NetResponse): Promise<Error> {
    const error = await response.statusError();
    if (response.status !== 401 && response.status !== 403) return error;
    const where = `${method} ${url.host}${url.pathname}`;
    const detail = error.detail || '(empty body)';
    if (response.status === 403) return new RemoteError('RegistryForbidden', [this.registry, where, detail]);
    if (this.auth.usesBasic()) return new RemoteError('RegistryCredentialsRejected', [this.registry, where, 401, detail]);
    return new RemoteError('RegistryUnauthorized', [this.registry, where, detail]);
  }

  /** A manifest by tag or digest, at most 4 MiB; one fetched by digest is checked against it. */
  async getManifest(repository: string, reference: string): Promise<Manifest> {
    const byDigest = isContentDigest(reference);
    const image = `${this.registry}/${repository}${byDigest ? '@' : ':'}${reference}`;
    const manifest = await this.retrying(`registry GET manifest ${image}`, async () => {
      const response = await this.attempt('GET', this.url(`/v2/${repository}/manifests/${reference}`), { headers: { accept: manifestAccept }, expect: [200, 404] });
      if (response.status === 404) {
        await response.discard();
        return undefined;
      }
      const bytes = await response.bytes(BODY_LIMITS.manifest, `the manifest of ${image}`);
      return { contentType: response.header('content-type')?.split(';')[0].trim() ?? '', bytes, digest: digestLike(byDigest ? reference : 'sha256:', bytes) };
    });
    if (!manifest) throw new TaskError('ImageNotFound', [`${this.registry}/${repository}`, reference]);
    if (byDigest) assertDigest({ key: 'ManifestDigestMismatch', image }, reference, manifest.digest);
    return manifest;
  }

  /** A small blob (an image config), bounded like a manifest and checked against its digest. */
  async readConfig(repository: string, digest: string, image: string): Promise<Buffer> {
    const bytes = await this.retrying(`registry GET config ${digest}`, async () => {
      const response = await this.attempt('GET', this.url(`/v2/${repository}/blobs/${digest}`), { expect: [200] });
      return response.bytes(BODY_LIMITS.manifest, `the config of ${image}`);
    });
    assertDigest({ key: 'ConfigDigestMismatch', image }, digest, digestLike(digest, bytes));
    return bytes;
  }

  /** A blob's bytes from offset (count of them, or to the end), following the registry's redirect to storage. The caller verifies them. */
  async openBlob(repository: string, digest: string, offset = 0, count?: number): Promise<Readable> {
    const ranged = offset > 0 || count !== undefined;
    const headers = ranged ? { range: `bytes=${offset}-${count === undefined ? '' : offset + count - 1}` } : undefined;
    const response = await this.call('GET', `/v2/${repository}/blobs/${digest}`, { headers, expect: [200, 206] });
    if (ranged && response.status !== 206) {
      await response.discard();
      throw new RemoteError('RegistryRangeIgnored', [this.registry, digest]);
    }
    return response.body;
  }

  /** Every tag of a repository (undefined when there is no such repository), page by page as the Link header leads; each page bounded like a manifest. */
  async listTags(repository: string): Promise<string[] | undefined> {
    const tags: string[] = [];
    let next: URL | undefined = this.url(`/v2/${repository}/tags/list?n=1000`);
    for (let page = 0; next && page < MAX_TAG_PAGES; page++) {
      const response = await this.call('GET', next, { expect: [200, 404] });
      if (response.status === 404) {
        await response.discard();
        return undefined;
      }
      const link = response.header('link');
      const bytes = await response.bytes(BODY_LIMITS.manifest, `the tags of ${this.registry}/${repository}`);
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new RemoteError('ManifestInvalid', [`${this.registry}/${repository}`, 'its tag list is not JSON']);
      }
      const page = (json as { tags?: unknown }).tags ?? [];
      if (!Array.isArray(page) || !page.every((tag) => typeof tag === 'string')) throw new RemoteError('ManifestInvalid', [`${this.registry}/${repository}`, 'its tag list holds a value that is not text']);
      tags.push(...(page as string[]));
      const target = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1];
      next = target ? redirectHop(this.origin, target).url : undefined;
    }
    return tags;
  }

  /** What a HEAD of the blob tells: whether the registry holds it, and the size it reports. */
  private async headBlob(repository: string, digest: string): Promise<{ readonly held: boolean; readonly size?: number }> {
    const response = await this.call('HEAD', `/v2/${repository}/blobs/${digest}`, { expect: [200, 404] });
    await response.discard();
    if (response.status !== 200) return { held: false };
    const length = Number(response.header('content-length'));
    return { held: true, size: Number.isSafeInteger(length) && length >= 0 ? length : undefined };
  }

  /** The size the registry reports for a blob, or undefined when it does not hold it (or says no size). */
  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    return (await this.headBlob(repository, digest)).size;
  }

  /** At most `count` bytes from the start of a blob (a registry that ignores Range is cut off there). The caller checks them. */
  async readBlobPrefix(repository: string, digest: string, count: number): Promise<Buffer> {
    const response = await this.call('GET', `/v2/${repository}/blobs/${digest}`, { headers: { range: `bytes=0-${count - 1}` }, expect: [200, 206] });
    const chunks: Buffer[] = [];
    let held = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      held += chunk.length;
      if (held >= count) break; // leaving the loop destroys the body
    }
    return Buffer.concat(chunks).subarray(0, count);
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    return (await this.headBlob(repository, digest)).held;
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

  /**
   * Cancels an upload session (DELETE, as the distribution spec allows) so the registry frees the
   * bytes it holds for a failed upload at once, not at its next clean-up. Best effort: one try,
   * and a failure here must never hide the failure that led to it.
   */
  async cancelUpload(session: URL): Promise<void> {
    try {
      await (await this.call('DELETE', session, { expect: [202, 204, 404], retry: false })).discard();
    } catch (error) {
      this.options.log.debug(`could not cancel the upload session at ${this.registry}: ${(error as Error).message}`);
    }
  }

  /** Where an upload goes on: relative to the registry, and never from https down to http. */
  locationOf(response: NetResponse): URL {
    const location = response.header('location');
    if (!location) throw new RemoteError('RegistryUploadWithoutLocation', [this.registry]);
    return redirectHop(this.origin, location).url;
  }

  /** Resolves with the OCI-Subject header: a registry with the referrers API names the subject it indexed. */
  async putManifest(repository: string, reference: string, manifest: { mediaType: string; bytes: Buffer; digest: string }): Promise<{ subject?: string }> {
    const response = await this.call('PUT', `/v2/${repository}/manifests/${reference}`, {
      headers: { 'content-type': manifest.mediaType, 'content-length': manifest.bytes.length },
      body: () => manifest.bytes,
      expect: [201, 200],
    });
    await response.discard();
    checkDigest(this.registry, response, manifest.digest);
    return { subject: response.header('oci-subject') };
  }

  /** Authenticates once (GET /v2/) and returns credentials for another tool, such as buildah push. */
  async loginCredentials(): Promise<{ username: string; password: string } | undefined> {
    await (await this.call('GET', '/v2/', { expect: [200] })).discard();
    return this.auth.loginCredentials();
  }
}

/** The registry must agree on what it stored; a mismatch means corruption in transit or a broken proxy. */
export function checkDigest(registry: string, response: NetResponse, expected: string): void {
  const reported = response.header('docker-content-digest');
  if (reported && reported !== expected) throw new RemoteError('RegistryDigestMismatch', [registry, reported, expected]);
}

/** A registry failure that outlived its retries, as a message naming the registry and what to check. */
export function explainRegistryFailure(error: unknown, registry: string): unknown {
  if (error instanceof NetworkError) {
    if (/^(EPROTO|ERR_SSL_WRONG_VERSION_NUMBER)$/.test(error.code)) return new RemoteError('RegistryNotTls', [registry], { cause: error });
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(error.code)) return new RemoteError('RegistryCertificateUntrusted', [registry, error.message], { cause: error });
    // A missed deadline is explained by the network layer's catalog, naming the peer and the deadline.
    if (error.phase !== undefined) return error;
    return new RemoteError('RegistryRequestFailed', [registry, error.message], { cause: error });
  }
  if (error instanceof HttpStatusError) return new RemoteError('RegistryRequestFailed', [registry, error.message], { cause: error });
  return error;
}
