/**
 * The Azure SDKs (Blob Storage, Resource Manager, Entra ID through @azure/identity and MSAL) send
 * through the network layer: this is their `HttpClient`. Their own retry policies are switched off
 * where they are built, and this client applies the one retry policy instead, so the proxy,
 * certificates, deadlines, body limits and retries are the same as everywhere else. The proxy and
 * agent a pipeline policy may put on a request are ignored: the network layer decides the route.
 */
import type { Readable } from 'node:stream';
import { type HttpClient, type PipelineRequest, type PipelineResponse, createHttpHeaders } from '@azure/core-rest-pipeline';
import { isRetryableStatus } from '../errors';
import type { Network } from '../network';
import { type RetryPolicy, retry } from '../retry';

export interface AzureHttpClientOptions {
  readonly retry: RetryPolicy;
  /** The task's cancel and deadline. */
  readonly signal?: AbortSignal;
  /** The largest body held in memory (a listing page, a token answer); streamed downloads are not bounded. */
  readonly maxBodyBytes: number;
  /** Told before each retry, for a debug line. */
  readonly onRetry?: (what: string, attempt: number, error: unknown) => void;
}

type Body = Buffer | string | Readable | undefined;

function bodyOf(request: PipelineRequest): Body {
  const body = request.body;
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'function') return (body as () => Readable)();
  if (typeof (body as Readable).pipe === 'function') return body as Readable;
  throw new Error(`request body of type ${Object.prototype.toString.call(body)} is not supported by the network layer`);
}

function signalOf(request: PipelineRequest, task: AbortSignal | undefined): AbortSignal | undefined {
  const own = request.abortSignal instanceof AbortSignal ? request.abortSignal : undefined;
  const signals = [own, task].filter((signal): signal is AbortSignal => signal !== undefined);
  return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
}

export function azureHttpClient(network: Network, options: AzureHttpClientOptions): HttpClient {
  return {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const url = new URL(request.url);
      // A streamed body can be sent once; the SDK passes a factory where it expects to resend.
      const replayable = typeof request.body !== 'object' || request.body === null || Buffer.isBuffer(request.body) || ArrayBuffer.isView(request.body) || request.body instanceof ArrayBuffer;
      const policy = replayable || typeof request.body === 'function' ? options.retry : { ...options.retry, attempts: 1 };
      return retry(async (attempt) => {
        const response = await network.send({
          method: request.method,
          url,
          headers: request.headers.toJSON({ preserveCase: true }),
          body: bodyOf(request),
          signal: signalOf(request, options.signal),
        });
        // A retryable status becomes an error while attempts remain; the last one goes back to the SDK as it is.
        if (isRetryableStatus(response.status) && attempt < policy.attempts) throw await response.statusError();
        const headers = createHttpHeaders(Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value ?? '')])));
        const streamed = request.streamResponseStatusCodes?.has(response.status) || request.streamResponseStatusCodes?.has(Number.POSITIVE_INFINITY);
        if (streamed) return { request, status: response.status, headers, readableStreamBody: response.body };
        if (request.method === 'HEAD') {
          await response.discard();
          return { request, status: response.status, headers, bodyAsText: '' };
        }
        const bodyAsText = await response.text(options.maxBodyBytes, `the answer to ${request.method} ${url.pathname}`);
        return { request, status: response.status, headers, bodyAsText };
      }, policy, { signal: options.signal, onRetry: ({ attempt, error }) => options.onRetry?.(`${request.method} ${url.host}${url.pathname}`, attempt, error) });
    },
  };
}
