/**
 * The one network layer: every outbound request of the tasks is one `send` here, whether our own
 * clients make it (registry, Kubernetes, downloads) or an SDK does through an adapter (Azure,
 * AWS, Azure DevOps). It applies the agent's proxy and certificates, the per-request deadlines and
 * the task's cancel/deadline signal. It sends exactly one request: redirects, auth and retries
 * belong to the caller, which knows what may be repeated and where credentials may go.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { createHash } from 'node:crypto';
import { NetworkError, StoppedError, stoppedBy } from './errors';
import { type NetResponse, responseOf } from './body';
import { type Deadlines, type NetworkSettings, type ProxySettings, directNetworkSettings, proxyFor } from './settings';
import { TunnelAgent, authorityOf, proxyAuthorization, proxyName } from './tunnel';

/** TLS for one peer, on top of the agent's settings. */
export interface PeerTls {
  /** Trust only these certificates for this peer (a kubeconfig's certificate-authority-data), as kubectl does. */
  readonly onlyCa?: string | Buffer;
  /** Trust these besides the public and agent roots (a private registry's CA). */
  readonly extraCa?: string;
  /** This peer's own client certificate (a kubeconfig user's), in place of the agent's. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** insecure-skip-tls-verify: only ever from an explicit setting of the user's. */
  readonly skipVerify?: boolean;
  readonly servername?: string;
}

export interface NetRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string | number | readonly string[]>>;
  /** A stream is sent once: to retry, the caller makes a new request with a new stream. */
  readonly body?: Buffer | string | Readable;
  /** The task's cancel and overall deadline. */
  readonly signal?: AbortSignal;
  readonly tls?: PeerTls;
  readonly deadlines?: Partial<Deadlines>;
}

/** How a request travels, for debug lines and tests: 'direct' or the proxy's host:port. */
export type Route = 'direct' | { readonly proxy: string };

const MAX_SOCKETS = 64;

export class Network {
  private readonly agents = new Map<string, http.Agent>();

  constructor(readonly settings: NetworkSettings = directNetworkSettings()) {}

  route(url: URL): Route {
    const proxy = proxyFor(this.settings, url);
    return proxy ? { proxy: proxyName(proxy) } : 'direct';
  }

  /** One request; resolves once the response headers are in (any status), rejects with typed errors. */
  send(request: NetRequest): Promise<NetResponse> {
    const deadlines = { ...this.settings.deadlines, ...request.deadlines };
    const url = request.url;
    const peer = authorityOf(url.hostname, url.port || (url.protocol === 'https:' ? 443 : 80));
    if (request.signal?.aborted) return Promise.reject(stoppedBy(request.signal));
    return new Promise<NetResponse>((resolve, reject) => {
      const outgoing = this.open(request, url);
      const timers: NodeJS.Timeout[] = [];
      let response: NetResponse | undefined;
      const fail = (error: Error) => {
        if (response) response.body.destroy(error);
        else outgoing.destroy(error);
      };
      const onAbort = () => fail(stoppedBy(request.signal!));
      request.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        timers.forEach(clearTimeout);
        request.signal?.removeEventListener('abort', onAbort);
      };
      const deadline = (ms: number, phase: 'connect' | 'response', what: string) => {
        const timer = setTimeout(() => fail(new NetworkError(peer, 'ETIMEDOUT', `${what} ${peer} within ${ms} ms`, phase)), ms);
        timers.push(timer);
        return timer;
      };
      outgoing.setTimeout(deadlines.idleMs, () => fail(new NetworkError(peer, 'ETIMEDOUT', `nothing moved between us and ${peer} for ${deadlines.idleMs} ms`, 'idle')));
      outgoing.once('socket', (socket) => {
        if (!socket.connecting || response) return;
        const timer = deadline(deadlines.connectMs, 'connect', 'no connection to');
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(timer));
      });
      // A peer may answer before the body is sent (a 401 to an upload): then there is nothing to wait for.
      outgoing.once('finish', () => response ?? deadline(deadlines.responseMs, 'response', 'no response from'));
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (response) return; // the body stream reports it to its reader
        done();
        reject(error instanceof NetworkError || error instanceof StoppedError || error.name === 'ProxyError' ? error : new NetworkError(peer, error.code ?? 'ECONNRESET', `${peer}: ${error.message}`));
      });
      outgoing.once('response', (incoming) => {
        timers.forEach(clearTimeout);
        response = responseOf(incoming, url, peer, deadlines.bodyMs);
        incoming.once('close', done);
        incoming.once('error', () => undefined); // surfaced to whoever reads the body
        resolve(response);
      });
      sendBody(outgoing, request.body);
    });
  }

  /** Destroys every pooled connection; the task's last network act. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private open(request: NetRequest, url: URL): http.ClientRequest {
    const secure = url.protocol === 'https:';
    const proxy = proxyFor(this.settings, url);
    const headers: Record<string, string | number | readonly string[]> = { ...request.headers };
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    if (proxy && !secure) {
      // Plain http through a proxy: the absolute URL goes to the proxy, which forwards it.
      const authorization = proxyAuthorization(proxy);
      if (authorization) headers['proxy-authorization'] = authorization;
      const target = new URL(url.href);
      target.hash = '';
      const module = proxy.url.protocol === 'https:' ? https : http;
      return module.request({ host: proxy.url.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.url.port) || (proxy.url.protocol === 'https:' ? 443 : 80), method: request.method, path: target.href, headers: { host: url.host, ...headers } as http.OutgoingHttpHeaders, agent: this.agentFor('proxy-http', proxy, undefined) });
    }
    const path = `${url.pathname}${url.search}`;
    const common = { hostname, port: url.port || undefined, method: request.method, path, headers: headers as http.OutgoingHttpHeaders };
    if (!secure) return http.request({ ...common, agent: this.agentFor('http', undefined, undefined) });
    return https.request({ ...common, agent: this.agentFor('https', proxy, request.tls), ...(request.tls?.servername ? { servername: request.tls.servername } : {}) });
  }

  /** One keep-alive pool per route and TLS identity, shared by every client of the task. */
  private agentFor(kind: 'http' | 'https' | 'proxy-http', proxy: ProxySettings | undefined, peerTls: PeerTls | undefined): http.Agent {
    const tls = kind === 'https' ? this.tlsOptions(peerTls) : {};
    const key = `${kind}|${proxy ? proxyName(proxy) : 'direct'}|${fingerprint(tls)}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const options = { keepAlive: true, maxSockets: MAX_SOCKETS, ...tls };
      if (kind === 'https') agent = proxy ? new TunnelAgent(proxy, this.settings.deadlines.connectMs, options) : new https.Agent(options);
      else agent = kind === 'proxy-http' && proxy?.url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
      this.agents.set(key, agent);
    }
    return agent;
  }

  private tlsOptions(peer: PeerTls | undefined): https.AgentOptions {
    const agentTls = this.settings.tls;
    const options: https.AgentOptions = {};
    if (peer?.onlyCa !== undefined) options.ca = peer.onlyCa;
    // An explicit ca replaces Node's roots, so the public roots come along when anything is added.
    else if (agentTls.ca.length > 0 || peer?.extraCa) options.ca = [...rootCertificates, ...agentTls.ca, ...(peer?.extraCa ? [peer.extraCa] : [])];
    const client = peer?.cert !== undefined ? { cert: peer.cert, key: peer.key } : agentTls.clientCertificate;
    if (client) Object.assign(options, Object.fromEntries(Object.entries(client).filter(([, value]) => value !== undefined)));
    if (peer?.skipVerify) options.rejectUnauthorized = false;
    return options;
  }
}

function fingerprint(options: https.AgentOptions): string {
  const hash = createHash('sha256');
  for (const [key, value] of Object.entries(options).sort(([a], [b]) => a.localeCompare(b))) {
    hash.update(`${key}=`);
    for (const part of Array.isArray(value) ? value : [value]) hash.update(typeof part === 'string' || Buffer.isBuffer(part) ? part : String(part)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

function sendBody(outgoing: http.ClientRequest, body: NetRequest['body']): void {
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
    outgoing.end(body);
    return;
  }
  body.once('error', (error) => outgoing.destroy(error));
  body.pipe(outgoing);
}

/** A readable of one buffer, for callers that need a stream. */
export function streamOf(bytes: Buffer): Readable {
  return Readable.from([bytes]);
}
