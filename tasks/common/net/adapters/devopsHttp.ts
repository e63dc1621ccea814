/**
 * azure-devops-node-api clients (Build, Task) send through the network layer. typed-rest-client,
 * underneath them, sends every request through its public `requestRaw`; each client's two
 * typed-rest-client instances get one that calls the network layer instead, so the proxy,
 * certificates, deadlines and the task's cancel apply. Its own retries and redirects are off
 * where the clients are built: retries are the caller's, through the one retry policy.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { ClientApiBase } from 'azure-devops-node-api/ClientApiBases';
import type { IRequestOptions } from 'azure-devops-node-api/interfaces/common/VsoBaseInterfaces';
import { HttpClientResponse } from 'typed-rest-client/HttpClient';
import type { NetResponse } from '../body';
import type { Network } from '../network';
import { parseRetryAfter, RETRY_AFTER } from '../retry';

/** typed-rest-client reads JSON answers with readBody(): here it is bounded like every body we hold. */
class BoundedResponse extends HttpClientResponse {
  /** Why the body could not be read (too large, cut, too slow), kept because RestClient swallows it. */
  failure?: unknown;

  constructor(private readonly response: NetResponse, private readonly maxBodyBytes: number) {
    // The network layer's body is Node's IncomingMessage, which is what typed-rest-client reads.
    super(response.body as IncomingMessage);
  }

  get retryAfter(): string | undefined {
    return this.response.header('retry-after');
  }

  override readBody(): Promise<string> {
    return this.response.text(this.maxBodyBytes, `the answer of ${this.response.url.host}${this.response.url.pathname}`).catch((error: unknown) => {
      this.failure = error;
      throw error;
    });
  }
}

type Processor = (res: HttpClientResponse, options: unknown) => Promise<unknown>;

/**
 * RestClient turns a body it cannot read into a null result, so an answer over the limit would
 * pass for "not found": the read's own error is thrown instead.
 */
function keepReadFailures(rest: ClientApiBase['rest']): void {
  const target = rest as unknown as { processResponse: Processor };
  const process = target.processResponse.bind(rest);
  target.processResponse = async (res, options) => {
    const result = await process(res, options).catch((error: unknown) => {
      throw (res as BoundedResponse).failure ?? withRetryAfter(error, res as BoundedResponse);
    });
    if ((res as BoundedResponse).failure !== undefined) throw (res as BoundedResponse).failure;
    return result;
  };
}

/** RestClient's status error drops the headers: a throttled answer's Retry-After is kept on it for the retry policy. */
function withRetryAfter(error: unknown, res: BoundedResponse): unknown {
  const after = parseRetryAfter(res.retryAfter);
  if (after !== undefined && error instanceof Error) Object.defineProperty(error, RETRY_AFTER, { value: after });
  return error;
}

/** What the clients are built with: no retries or redirects of their own, TLS left to the network layer. */
export const DEVOPS_CLIENT_OPTIONS: IRequestOptions = Object.freeze({ allowRetries: false, allowRedirects: false, socketTimeout: 60_000 });

/** `maxBodyBytes` bounds the JSON answers; a streamed download reads `message` and is bounded by its caller. */
export function throughNetwork<T extends ClientApiBase>(api: T, network: Network, options: { readonly signal?: AbortSignal; readonly maxBodyBytes: number }): T {
  for (const client of [api.http, api.rest.client]) {
    client.requestRaw = async (info, data) => {
      const response = await network.send({
        method: info.options.method ?? 'GET',
        url: new URL(info.parsedUrl.href ?? ''),
        headers: info.options.headers as Record<string, string>,
        body: typeof data === 'string' || data === null || data === undefined ? (data ?? undefined) : (data as Readable),
        signal: options.signal,
      });
      return new BoundedResponse(response, options.maxBodyBytes);
    };
  }
  keepReadFailures(api.rest);
  return api;
}
