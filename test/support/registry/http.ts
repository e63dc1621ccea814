/**
 * Raw HTTP against the test registry or its token server, trusting the test CA: what a test uses
 * to look at status codes and challenges as curl would show them.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface RawRequest {
  readonly method?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  /** PEM of a CA to trust (TestRegistry.caPem). */
  readonly ca?: string;
}

export function rawRequest(url: string, options: RawRequest = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? https.request : http.request;
    const headers = { ...options.headers, ...(options.body !== undefined ? { 'content-length': Buffer.byteLength(options.body) } : {}) };
    const req = send(url, { method: options.method ?? 'GET', headers, ca: options.ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** Posts an application/x-www-form-urlencoded body (ACR's /oauth2/exchange and /oauth2/token). */
export function postForm(url: string, fields: Record<string, string | string[]>): Promise<RawResponse> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) form.append(name, v);
  return rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
}

const PULLABLE = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json';

/**
 * Asks the registry, as a kubelet pulling with the pull secret would, whether it holds `image`
 * (host/repo@digest or host/repo:tag): for a cluster simulator's imageBehaviour.
 */
export async function registryHolds(registry: { host: string; url: string; caPem?: string; username?: string; password?: string }, image: string): Promise<boolean> {
  const match = /^([^/]+)\/(.+?)(?:@(sha256:[a-f0-9]{64})|:([\w.-]+))$/.exec(image);
  if (!match || match[1] !== registry.host) return false;
  const [, , repository, digest, tag] = match;
  const headers: http.OutgoingHttpHeaders = { accept: PULLABLE };
  if (registry.username) headers.authorization = basicAuth(registry.username, registry.password ?? '');
  const response = await rawRequest(`${registry.url}/v2/${repository}/manifests/${digest ?? tag}`, { method: 'HEAD', headers, ca: registry.caPem });
  return response.status === 200;
}
