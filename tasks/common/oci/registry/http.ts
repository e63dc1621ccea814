/**
 * The HTTP the registry client needs and nothing more: one request, a streaming body either way,
 * keep-alive connections, an idle timeout. Retries, auth and redirects live one level up.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';

export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: Buffer | Readable;
}

export interface HttpResponse {
  readonly status: number;
  header(name: string): string | undefined;
  readonly body: Readable;
  text(): Promise<string>;
  /** Reads and discards the body so the connection can be reused. */
  discard(): Promise<void>;
}

/** A failed exchange worth retrying or reporting: carries the HTTP status or the socket error code. */
export class HttpError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface HttpClientOptions {
  /** Extra PEM certificates to trust besides the public roots (a private registry's CA). */
  readonly ca?: string;
  readonly idleTimeoutMs: number;
}

export class HttpClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: HttpClientOptions) {
    // Node adds NODE_EXTRA_CA_CERTS to its default roots itself; an explicit ca replaces them, so add them back.
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(options.ca ? { ca: [...rootCertificates, options.ca] } : {}) });
  }

  send(request: HttpRequest): Promise<HttpResponse> {
    const secure = request.url.protocol === 'https:';
    const send = secure ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const outgoing = send(request.url, {
        method: request.method,
        headers: request.headers as http.OutgoingHttpHeaders,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
      outgoing.setTimeout(this.options.idleTimeoutMs, () => {
        outgoing.destroy(new HttpError(`no response from ${request.url.host} for ${this.options.idleTimeoutMs / 1000}s`, undefined, 'ETIMEDOUT'));
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => reject(new HttpError(error.message, undefined, error.code ?? 'ECONNRESET')));
      outgoing.on('response', (incoming) => resolve(responseOf(incoming)));
      const body = request.body;
      if (body === undefined || Buffer.isBuffer(body)) {
        outgoing.end(body);
      } else {
        body.on('error', (error) => outgoing.destroy(error));
        body.pipe(outgoing);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function responseOf(incoming: http.IncomingMessage): HttpResponse {
  const header = (name: string) => {
    const value = incoming.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  return {
    status: incoming.statusCode ?? 0,
    header,
    body: incoming,
    async text() {
      const chunks: Buffer[] = [];
      for await (const chunk of incoming) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    async discard() {
      incoming.resume();
      if (!incoming.complete) await new Promise((done) => incoming.once('end', done).once('close', done));
    },
  };
}
