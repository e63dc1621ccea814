/**
 * A corporate forward proxy on loopback: CONNECT tunnels for https and absolute-URL forwarding for
 * plain http, optionally behind Basic proxy authentication, recording every request it carried.
 * Tests use it to prove that a task reaches each peer through the agent's proxy, and that bypassed
 * hosts do not pass through it.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  /** CONNECT, or the method of a forwarded plain-http request. */
  readonly method: string;
  /** host:port for CONNECT; the absolute URL for a forwarded request. */
  readonly target: string;
  readonly authorized: boolean;
}

export interface ForwardProxyOptions {
  readonly username?: string;
  readonly password?: string;
}

export class ForwardProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    private readonly options: ForwardProxyOptions,
  ) {}

  static async start(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
    const server = http.createServer();
    const proxy = new ForwardProxy(server, options);
    server.on('request', (request, response) => proxy.forward(request, response));
    server.on('connect', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => proxy.tunnel(request, socket, head));
    server.on('connection', (socket) => {
      proxy.sockets.add(socket);
      socket.once('close', () => proxy.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** http://127.0.0.1:<port>, without credentials. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** host:port of every peer reached through the proxy (CONNECT targets and forwarded hosts). */
  peers(): Set<string> {
    return new Set(this.requests.filter((request) => request.authorized).map((request) => (request.method === 'CONNECT' ? request.target : new URL(request.target).host)));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorized(request: http.IncomingMessage): boolean {
    if (!this.options.username) return true;
    const expected = `Basic ${Buffer.from(`${this.options.username}:${this.options.password ?? ''}`).toString('base64')}`;
    return request.headers['proxy-authorization'] === expected;
  }

  private tunnel(request: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    const target = request.url ?? '';
    const authorized = this.authorized(request);
    this.requests.push({ method: 'CONNECT', target, authorized });
    if (!authorized) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test proxy"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = splitHostPort(target);
    const upstream = net.connect({ host, port }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.sockets.add(upstream);
    upstream.once('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  }

  private forward(request: http.IncomingMessage, response: http.ServerResponse): void {
    const target = request.url ?? '';
    const authorized = this.authorized(request);
    this.requests.push({ method: request.method ?? 'GET', target, authorized });
    if (!authorized) {
      response.writeHead(407, { 'proxy-authenticate': 'Basic realm="test proxy"' }).end();
      return;
    }
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      response.writeHead(400).end('absolute URL required');
      return;
    }
    const headers = { ...request.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = http.request({ host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80, method: request.method, path: `${url.pathname}${url.search}`, headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  }
}

function splitHostPort(authority: string): [string, number] {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority);
  return match ? [match[1], Number(match[2])] : [authority, 443];
}
