/**
 * What the Azure stand-ins share: listening on 127.0.0.1 with an OS-picked port, closing with
 * every kept-alive connection, JSON answers, request bodies, and never letting a handler's
 * exception take the test process down.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ServerTls {
  /** Paths of the server certificate and key (see createTestCa). */
  readonly cert: string;
  readonly key: string;
}

export interface RunningServer {
  /** Origin without a trailing slash, e.g. https://127.0.0.1:40123 */
  readonly origin: string;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

export async function startServer(handler: Handler, tls?: ServerTls): Promise<RunningServer> {
  let origin = '';
  const listener: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'StandInFailure', message: String((error as Error)?.message ?? error) } });
        else res.destroy();
      });
  };
  const server = tls
    ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, listener)
    : http.createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearerToken(req: http.IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

/**
 * Faults a stand-in serves on demand: the next `count` requests are answered with `status`
 * (a 503 by default), whatever they ask, so tests can check retries and giving up.
 */
export class InjectedFaults {
  private count = 0;
  private status = 503;

  failNext(count: number, status: number): void {
    this.count = count;
    this.status = status;
  }

  /** The status to fail this request with, or undefined to serve it. */
  take(): number | undefined {
    if (this.count <= 0) return undefined;
    this.count -= 1;
    return this.status;
  }
}
