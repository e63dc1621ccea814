/**
 * A hostile registry for tests: a small HTTP(S) front before the real docker-registry that passes
 * every request through untouched (Host kept, so the registry's Location URLs point at the front),
 * except those a test chooses to answer itself, rewrite, trickle, stretch or leave unanswered.
 * Every request that reaches the front is recorded with its Authorization header, so a test can
 * say exactly what a client sent where. The same server without an upstream is a recording sink
 * (a foreign token service, say).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCa } from '../tls';

export type FrontAction =
  /** Answer this request here; the registry never sees it. */
  | { readonly kind: 'answer'; readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: string | Buffer }
  /** Pass it on, then change the registry's answer body (Content-Length follows). */
  | { readonly kind: 'rewrite'; readonly change: (body: Buffer) => Buffer }
  /** Headers at once, then one byte of `body` every `everyMs`. */
  | { readonly kind: 'trickle'; readonly everyMs: number; readonly body: string; readonly headers?: Readonly<Record<string, string>> }
  /** A body of `bytes` bytes, generated as it is read; with or without a Content-Length. */
  | { readonly kind: 'huge'; readonly bytes: number; readonly declare: boolean; readonly headers?: Readonly<Record<string, string>> }
  /** Read the request, never answer. */
  | { readonly kind: 'silent' };

export interface FrontRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization?: string;
  /** The first 64 KiB of the request body (a token form, say), filled in as it arrives. */
  body: string;
  /** The client closed the connection before the answer was complete (a deadline or a limit fired). */
  abandoned: boolean;
}

const RECORDED_BODY = 64 * 1024;

export interface HostileFront {
  /** 127.0.0.1:PORT */
  readonly host: string;
  /** http(s)://127.0.0.1:PORT */
  readonly url: string;
  readonly requests: FrontRequest[];
  /** Bytes of 'huge' bodies the client actually took. */
  readonly hugeBytesSent: number;
  close(): Promise<void>;
}

export interface FrontOptions {
  /** Port of a plain-http registry to pass requests on to; without one, unanswered requests get 404. */
  readonly upstreamPort?: number;
  readonly tls?: TestCa;
  /** The action for a request, or undefined to pass it through. */
  readonly decide?: (request: http.IncomingMessage) => FrontAction | undefined;
}

function passOn(req: http.IncomingMessage, port: number, onAnswer: (answer: http.IncomingMessage) => void, res: http.ServerResponse): void {
  const headers = { ...req.headers };
  delete headers.connection;
  const outgoing = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent: false }, onAnswer);
  outgoing.on('error', () => res.destroy());
  res.on('close', () => outgoing.destroy());
  req.pipe(outgoing);
}

function rewrite(res: http.ServerResponse, answer: http.IncomingMessage, change: (body: Buffer) => Buffer): void {
  const chunks: Buffer[] = [];
  answer.on('data', (chunk: Buffer) => chunks.push(chunk));
  answer.on('end', () => {
    const body = change(Buffer.concat(chunks));
    const headers = { ...answer.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    res.writeHead(answer.statusCode ?? 502, headers).end(body);
  });
}

function trickle(res: http.ServerResponse, action: Extract<FrontAction, { kind: 'trickle' }>): void {
  res.writeHead(200, { 'content-length': String(Buffer.byteLength(action.body)), ...action.headers });
  res.flushHeaders();
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= action.body.length) return void clearInterval(timer);
    res.write(action.body[sent++]);
  }, action.everyMs);
  res.on('close', () => clearInterval(timer));
}

function huge(res: http.ServerResponse, action: Extract<FrontAction, { kind: 'huge' }>, count: (bytes: number) => void): void {
  res.writeHead(200, { ...action.headers, ...(action.declare ? { 'content-length': String(action.bytes) } : {}) });
  const block = Buffer.alloc(64 * 1024, 0x20);
  let left = action.bytes;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      const piece = block.subarray(0, Math.min(block.length, left));
      left -= piece.length;
      count(piece.length);
      if (!res.write(piece)) return void res.once('drain', pump);
    }
    if (left === 0) res.end();
  };
  pump();
}

export async function startHostileFront(options: FrontOptions = {}): Promise<HostileFront> {
  const requests: FrontRequest[] = [];
  let hugeBytesSent = 0;
  const handler: http.RequestListener = (req, res) => {
    const record: FrontRequest = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body: '', abandoned: false };
    requests.push(record);
    res.on('close', () => (record.abandoned = !res.writableFinished));
    req.on('data', (chunk: Buffer) => {
      if (record.body.length < RECORDED_BODY) record.body += chunk.toString('utf8');
    });
    const action = options.decide?.(req);
    if (!action || action.kind === 'rewrite') {
      if (options.upstreamPort === undefined) return void req.resume().on('end', () => res.writeHead(404).end());
      return passOn(req, options.upstreamPort, (answer) => {
        if (action?.kind === 'rewrite') return rewrite(res, answer, action.change);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      }, res);
    }
    req.resume().on('end', () => {
      if (action.kind === 'answer') res.writeHead(action.status, action.headers).end(action.body);
      else if (action.kind === 'trickle') trickle(res, action);
      else if (action.kind === 'huge') huge(res, action, (bytes) => (hugeBytesSent += bytes));
      // 'silent': the request was read; no answer ever comes.
    });
  };

  const server = options.tls ? https.createServer({ cert: fs.readFileSync(options.tls.cert), key: fs.readFileSync(options.tls.key) }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `${options.tls ? 'https' : 'http'}://${host}`,
    requests,
    get hugeBytesSent() {
      return hugeBytesSent;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
