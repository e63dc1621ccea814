/**
 * An HTTP forward proxy (HTTP_PROXY / HTTPS_PROXY) that sends chosen host names to local servers
 * and everything else where it was going. It lets code that builds a production host name, such
 * as Azure ML's <account>.blob.core.windows.net for a datastore, reach Azurite unchanged: plain
 * requests arrive in absolute form and are forwarded with their Host header kept (Azurite reads
 * the account from it); HTTPS arrives as CONNECT and is tunnelled, TLS staying end to end.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';

export interface Route {
  readonly port: number;
  readonly host?: string;
}

export interface HostRoutingProxy {
  /** For HTTP_PROXY and HTTPS_PROXY. */
  readonly url: string;
  /** Host names asked for, in order (routed or not). */
  readonly hosts: readonly string[];
  /** host:port of every peer asked for, as the client named it. */
  readonly peers: readonly string[];
  close(): Promise<void>;
}

export async function startHostRoutingProxy(routes: Readonly<Record<string, Route>>): Promise<HostRoutingProxy> {
  const hosts: string[] = [];
  const peers: string[] = [];
  const tunnels = new Set<net.Socket>();
  const target = (host: string, port: number): { host: string; port: number } => {
    hosts.push(host);
    peers.push(`${host}:${port}`);
    const route = routes[host.toLowerCase()];
    return route ? { host: route.host ?? '127.0.0.1', port: route.port } : { host, port };
  };
  const server = http.createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form request expected');
      return;
    }
    const to = target(url.hostname, Number(url.port || 80));
    const upstream = http.request({ ...to, method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    const to = target(host, Number(port || 443));
    const upstream = net.connect(to.port, to.host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    tunnels.add(client).add(upstream);
    const drop = () => {
      upstream.destroy();
      client.destroy();
      tunnels.delete(client);
      tunnels.delete(upstream);
    };
    upstream.on('close', drop);
    upstream.on('error', drop);
    client.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hosts,
    peers,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of tunnels) socket.destroy();
      }),
  };
}
