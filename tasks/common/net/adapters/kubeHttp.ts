/**
 * @kubernetes/client-node sends through the network layer: this is its `HttpLibrary`. Its own
 * library (node-fetch with an agent per request) would bypass the agent's proxy, the deadlines,
 * the body limits and the task's cancel. Credentials and TLS for each request come from the caller
 * (the kubeconfig's user and cluster, exec plugins included); answers are read whole, bounded.
 * Retries are the caller's: one call here is one request.
 */
import {
  type HttpLibrary, type RequestContext, ResponseContext, SelfDecodingBody, wrapHttpLibrary,
} from '@kubernetes/client-node';
import { BODY_LIMITS, type NetResponse, streamErrorOf } from '../body';
import type { Network, PeerTls } from '../network';

/** What a request to the API server carries besides its own headers. */
export interface KubeRequestAuth {
  /** Authorization (a bearer token, an exec plugin's token or Basic), Impersonate-User. */
  readonly headers: Readonly<Record<string, string>>;
  readonly tls?: PeerTls;
}

export interface KubeHttpOptions {
  readonly network: Network;
  /** The task's cancel, and whatever deadline the caller's phase has. */
  readonly signal?: AbortSignal;
  /** Asked before every request (an exec plugin's token may have expired), with the request's signal. */
  readonly auth: (signal?: AbortSignal) => Promise<KubeRequestAuth>;
  /** The largest successful answer held in memory; error answers get BODY_LIMITS.json. */
  readonly maxBodyBytes: number;
}

function bodyOf(request: RequestContext): string | undefined {
  const body = request.getBody();
  if (body === undefined || typeof body === 'string') return body;
  // The generated clients send JSON strings; forms and multipart are never used here.
  throw new TypeError(`a ${Object.prototype.toString.call(body)} request body is not supported by the network layer`);
}

/** Sends one request and resolves once the headers are in; the body is left to the caller (a watch streams it). */
export async function openKubeRequest(request: RequestContext, options: KubeHttpOptions): Promise<NetResponse> {
  const auth = await options.auth(options.signal);
  return options.network.send({
    method: request.getHttpMethod(),
    url: new URL(request.getUrl()),
    headers: { ...request.getHeaders(), ...auth.headers },
    body: bodyOf(request),
    signal: options.signal,
    tls: auth.tls,
  });
}

function flatHeaders(response: NetResponse): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return headers;
}

export function kubeHttpLibrary(options: KubeHttpOptions): HttpLibrary {
  return wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const response = await openKubeRequest(request, options);
      const ok = response.status >= 200 && response.status < 300;
      const what = `the answer to ${request.getHttpMethod()} ${response.url.pathname}`;
      const peer = response.url.host;
      const body = await response.bytes(ok ? options.maxBodyBytes : BODY_LIMITS.json, what).catch((error: unknown) => Promise.reject(streamErrorOf(error, peer)));
      return new ResponseContext(response.status, flatHeaders(response), new SelfDecodingBody(Promise.resolve(body)));
    },
  });
}
