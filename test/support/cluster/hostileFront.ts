/**
 * A hostile Kubernetes API server for Deploy's tests: an HTTPS front (its own test CA) in front of
 * the cluster simulator that can stay silent, trickle, refuse chosen requests with a Status of its
 * choosing, or rewrite what the simulator answers (pod names, event messages, conditions) — in
 * plain answers and in watch streams, line by line. The simulator still does the real work.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTestCa } from '../tls';
import type { ClusterSimulator } from './index';

export interface Refusal {
  readonly status: number;
  readonly message: string;
  readonly reason?: string;
  readonly retryAfter?: string;
}

export type FrontMode =
  /** Forwards, rewriting every JSON object (a list, an object, each watch event) in place. */
  | { readonly kind: 'forward'; readonly rewrite?: (object: Record<string, unknown>, request: http.IncomingMessage) => void; readonly refuse?: (request: http.IncomingMessage) => Refusal | undefined }
  /** Takes the connection and the request, and never answers. */
  | { readonly kind: 'silent' }
  /** Answers 200 at once, then one byte of body every `intervalMs`, for ever. */
  | { readonly kind: 'trickle'; readonly intervalMs: number };

export interface HostileFront {
  readonly url: string;
  /** The simulator's kubeconfig pointed at this front, with the front's CA. */
  kubeconfig(): string;
  /** Requests received, in order: "GET /api/v1/namespaces/x". */
  readonly requests: readonly string[];
  setMode(mode: FrontMode): void;
  /** Drops every open connection (a watch included), as a crashed server would. */
  cut(): void;
  close(): Promise<void>;
}

function forward(sim: ClusterSimulator, mode: Extract<FrontMode, { kind: 'forward' }>, request: http.IncomingMessage, response: http.ServerResponse): void {
  const refusal = mode.refuse?.(request);
  if (refusal) {
    request.resume();
    const status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: refusal.message, reason: refusal.reason ?? 'Invalid', code: refusal.status };
    response.writeHead(refusal.status, { 'content-type': 'application/json', ...(refusal.retryAfter ? { 'retry-after': refusal.retryAfter } : {}) }).end(JSON.stringify(status));
    return;
  }
  const target = new URL(request.url ?? '/', sim.url);
  const upstream = https.request(target, { method: request.method, headers: { ...request.headers, host: target.host }, ca: sim.caPem }, (answer) => {
    const headers = { ...answer.headers };
    const json = /json/.test(String(headers['content-type'] ?? ''));
    if (!json || !mode.rewrite) {
      response.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(response);
      return;
    }
    delete headers['content-length'];
    response.writeHead(answer.statusCode ?? 502, headers);
    rewriteLines(answer, response, (object) => mode.rewrite?.(object, request));
  });
  upstream.on('error', () => response.destroy());
  request.pipe(upstream);
}

/** Each line is one JSON document (a watch event, or a whole answer on one line as the simulator writes it). */
function rewriteLines(answer: http.IncomingMessage, response: http.ServerResponse, rewrite: (object: Record<string, unknown>) => void): void {
  let pending = '';
  const emit = (line: string) => {
    if (!line.trim()) return response.write(`${line}\n`);
    try {
      const object = JSON.parse(line) as Record<string, unknown>;
      rewrite(object);
      response.write(`${JSON.stringify(object)}\n`);
    } catch {
      response.write(`${line}\n`);
    }
  };
  answer.setEncoding('utf8');
  answer.on('data', (text: string) => {
    const lines = (pending + text).split('\n');
    pending = lines.pop() ?? '';
    lines.forEach(emit);
  });
  answer.on('end', () => {
    if (pending) emit(pending);
    response.end();
  });
  answer.on('error', () => response.destroy());
}

function trickle(response: http.ServerResponse, intervalMs: number): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  const timer = setInterval(() => response.write(' '), intervalMs);
  response.once('close', () => clearInterval(timer));
}

export async function startHostileFront(sim: ClusterSimulator, initial: FrontMode): Promise<HostileFront> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-front-'));
  const ca = createTestCa(dir);
  const caPem = fs.readFileSync(ca.caCert, 'utf8');
  let mode = initial;
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = https.createServer({ cert: fs.readFileSync(ca.cert), key: fs.readFileSync(ca.key) }, (request, response) => {
    requests.push(`${request.method} ${request.url?.split('?')[0]}`);
    if (mode.kind === 'silent') return void request.resume();
    if (mode.kind === 'trickle') return trickle(response, mode.intervalMs);
    forward(sim, mode, request, response);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, requests,
    kubeconfig: () => sim.kubeconfig().replace(sim.url, url).replace(Buffer.from(sim.caPem ?? '').toString('base64'), Buffer.from(caPem).toString('base64')),
    setMode: (next) => void (mode = next),
    cut: () => sockets.forEach((socket) => socket.destroy()),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
