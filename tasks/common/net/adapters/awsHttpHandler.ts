/**
 * The AWS SDK clients (S3, STS) send through the network layer: this is their request handler, in
 * place of @smithy/node-http-handler and its own sockets. The clients are built with the SDK's
 * retries off (maxAttempts 1); this handler applies the one retry policy instead, so the agent's
 * proxy and certificates, the deadlines, the task's cancel and the body limits are the same as for
 * every other peer. Bodies are read within a bound, except the successful answers of a handler
 * made for streaming (ranged GetObject), whose reader is the downloader.
 */
import type { Readable } from 'node:stream';
import type { HeaderBag, HttpHandlerOptions, HttpRequest, HttpResponse, QueryParameterBag } from '@smithy/types';
import { isRetryableStatus } from '../errors';
import type { Lifetime } from '../../lifetime';
import type { Log } from '../../log';
import type { NetResponse } from '../body';
import type { Network } from '../network';
import { type RetryPolicy, retry } from '../retry';

export interface AwsHttpHandlerOptions {
  readonly retry: RetryPolicy;
  /** The task's cancel and deadline. */
  readonly signal?: AbortSignal;
  /** Hand the SDK the raw body of a 2xx answer (a download); every other body is read within maxBodyBytes. */
  readonly streamBodies: boolean;
  /** The largest body held in memory: a listing page, a HEAD's nothing, an error or STS answer. */
  readonly maxBodyBytes: number;
  /** Told before each retry, for a debug line. */
  readonly onRetry?: (what: string, attempt: number, error: unknown) => void;
}

/** The SDK's query escaping (RFC 3986, with !'()* escaped too), so the URL sent is the one signed. */
function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function queryStringOf(query: QueryParameterBag): string {
  const parts: string[] = [];
  for (const key of Object.keys(query).sort()) {
    const value = query[key];
    if (Array.isArray(value)) for (const item of value) parts.push(`${escapeUri(key)}=${escapeUri(item)}`);
    else parts.push(value === null ? escapeUri(key) : `${escapeUri(key)}=${escapeUri(value)}`);
  }
  return parts.join('&');
}

/**
 * The request's URL. A URL object resolves '.' and '..' path segments, which would send a
 * request for another key than the one signed: such a path is refused instead.
 */
export function urlOf(request: HttpRequest): URL {
  const host = request.hostname.includes(':') && !request.hostname.startsWith('[') ? `[${request.hostname}]` : request.hostname;
  const query = queryStringOf(request.query ?? {});
  const url = new URL(`${request.protocol}//${host}${request.port ? `:${request.port}` : ''}${request.path}${query ? `?${query}` : ''}`);
  if (url.pathname !== request.path) throw new Error(`the request path ${request.path} cannot be sent without changing it ('.' or '..' segments)`);
  return url;
}

function bodyOf(request: HttpRequest): Buffer | string | Readable | undefined {
  const body: unknown = request.body;
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof (body as Readable).pipe === 'function') return body as Readable;
  throw new Error(`request body of type ${Object.prototype.toString.call(body)} is not supported by the network layer`);
}

function signalOf(handlerOptions: HttpHandlerOptions | undefined, task: AbortSignal | undefined): AbortSignal | undefined {
  const own = handlerOptions?.abortSignal instanceof AbortSignal ? handlerOptions.abortSignal : undefined;
  const signals = [own, task].filter((signal): signal is AbortSignal => signal !== undefined);
  return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
}

function headersOf(response: NetResponse): HeaderBag {
  return Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value ?? '')]));
}

export class AwsHttpHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };

  constructor(
    private readonly network: Network,
    private readonly options: AwsHttpHandlerOptions,
  ) {}

  async handle(request: HttpRequest, handlerOptions?: HttpHandlerOptions): Promise<{ response: HttpResponse }> {
    const url = urlOf(request);
    const signal = signalOf(handlerOptions, this.options.signal);
    // A streamed request body can be sent once; strings and buffers can be sent again.
    const replayable = request.body === undefined || typeof request.body === 'string' || request.body instanceof Uint8Array;
    const policy = replayable ? this.options.retry : { ...this.options.retry, attempts: 1 };
    const what = `${request.method} ${url.host}${url.pathname}`;
    const response = await retry(async (attempt) => {
      const answer = await this.network.send({ method: request.method, url, headers: request.headers, body: bodyOf(request), signal });
      // A retryable status becomes an error while attempts remain; the last one goes to the SDK, which reads its error code.
      if (isRetryableStatus(answer.status) && attempt < policy.attempts) throw await answer.statusError();
      return answer;
    }, policy, { signal, onRetry: ({ attempt, error }) => this.options.onRetry?.(what, attempt, error) });
    return { response: { statusCode: response.status, headers: headersOf(response), body: await this.bodyFor(request, response) } };
  }

  private async bodyFor(request: HttpRequest, response: NetResponse): Promise<Readable | Buffer> {
    if (this.options.streamBodies && response.status >= 200 && response.status < 300) return response.body;
    if (request.method === 'HEAD') {
      await response.discard();
      return Buffer.alloc(0);
    }
    return response.bytes(this.options.maxBodyBytes, `the answer to ${request.method} ${response.url.pathname}`);
  }

  /** The SDK's hooks for its own handler's settings: the network layer has none to change here. */
  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  /** The connections belong to the task's network layer, which closes them when the task ends. */
  destroy(): void {}
}

/** A listing page of 1000 keys of up to 1 KiB each, XML-escaped, an error or an STS answer stays well under this. */
const AWS_BODY_LIMIT = 16 * 1024 * 1024;

/** The handler a task's S3 or STS client gets: its network layer, its lifetime's signal, the task's retry policy. */
export function awsHandler(context: { readonly log: Log; readonly network: Network; readonly lifetime: Lifetime }, options: { readonly retry: RetryPolicy; readonly streamBodies: boolean }): AwsHttpHandler {
  return new AwsHttpHandler(context.network, {
    retry: options.retry,
    signal: context.lifetime.signal,
    streamBodies: options.streamBodies,
    maxBodyBytes: AWS_BODY_LIMIT,
    onRetry: (what, attempt, error) => context.log.debug(`${what} failed (${(error as Error).message}); retry ${attempt}`),
  });
}
