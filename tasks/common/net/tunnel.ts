/**
 * HTTPS through a forward proxy: a CONNECT tunnel, then TLS with the real peer inside it, so the
 * proxy sees only host and port. The proxy's answer is a peer's text too: its header block is
 * bounded, and nothing it says is printed.
 */
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { NetworkError, ProxyError } from './errors';
import type { ProxySettings } from './settings';

const MAX_PROXY_HEADER_BYTES = 16 * 1024;

/** `host:port` for messages and the CONNECT line; IPv6 in brackets. */
export function authorityOf(host: string, port: number | string): string {
  const bare = host.replace(/^\[|\]$/g, '');
  return `${net.isIPv6(bare) ? `[${bare}]` : bare}:${port}`;
}

export function proxyAuthorization(proxy: ProxySettings): string | undefined {
  if (!proxy.username) return undefined;
  return `Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64')}`;
}

function proxyPort(proxy: ProxySettings): number {
  return Number(proxy.url.port) || (proxy.url.protocol === 'https:' ? 443 : 80);
}

export function proxyName(proxy: ProxySettings): string {
  return authorityOf(proxy.url.hostname, proxyPort(proxy));
}

/** A socket to the proxy (TLS when the proxy URL is https). */
function connectToProxy(proxy: ProxySettings): net.Socket {
  const host = proxy.url.hostname.replace(/^\[|\]$/g, '');
  const port = proxyPort(proxy);
  return proxy.url.protocol === 'https:' ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port });
}

/** Opens a CONNECT tunnel to host:port; resolves with the raw socket once the proxy answered 200. */
export function openTunnel(proxy: ProxySettings, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const target = authorityOf(host, port);
  const name = proxyName(proxy);
  return new Promise((resolve, reject) => {
    const socket = connectToProxy(proxy);
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        resolve(socket);
      }
    };
    const timer = setTimeout(() => finish(new NetworkError(name, 'ETIMEDOUT', `the proxy ${name} opened no tunnel to ${target} within ${timeoutMs} ms`, 'connect')), timeoutMs);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_PROXY_HEADER_BYTES) finish(new NetworkError(name, 'EPROXY', `the proxy ${name} sent an oversized answer to CONNECT`));
        return;
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(received.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      if (status !== 200) return finish(new ProxyError(name, status, target));
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      finish();
    };
    socket.on('data', onData);
    socket.once('error', (error: NodeJS.ErrnoException) => finish(new NetworkError(name, error.code ?? 'ECONNRESET', `the proxy ${name} failed: ${error.message}`)));
    socket.once('close', () => finish(new NetworkError(name, 'ECONNRESET', `the proxy ${name} closed the connection before opening a tunnel to ${target}`)));
    socket.once(proxy.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      const authorization = proxyAuthorization(proxy);
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${authorization ? `Proxy-Authorization: ${authorization}\r\n` : ''}\r\n`);
    });
  });
}

/** An https.Agent whose sockets are TLS sessions inside CONNECT tunnels; pooled and kept alive as usual. */
export class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: ProxySettings,
    private readonly connectMs: number,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: tls.ConnectionOptions & { host?: string; port?: number }, callback?: (error: Error | null, socket: Duplex) => void): Duplex | undefined {
    const host = (options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(options.port ?? 443);
    openTunnel(this.proxy, host, port, this.connectMs).then((raw) => {
      const secure = tls.connect({ ...options, socket: raw, servername: options.servername ?? (net.isIP(host) ? undefined : host) });
      const timer = setTimeout(() => secure.destroy(new NetworkError(authorityOf(host, port), 'ETIMEDOUT', `no TLS session with ${authorityOf(host, port)} within ${this.connectMs} ms`, 'connect')), this.connectMs);
      const settle = () => clearTimeout(timer);
      secure.once('secureConnect', settle);
      secure.once('error', settle);
      callback?.(null, secure);
    }, (error: Error) => callback?.(error, undefined as unknown as Duplex));
    return undefined;
  }
}
