/**
 * A transparent reverse proxy in front of a token-auth registry that makes expired tokens fail
 * at once. Why it exists: distribution 2.8 adds 60 s of leeway to `exp` (token.go `Leeway`,
 * confirmed against the installed binary: a token 59 s past exp is accepted, 61 s refused), so a
 * short-lived token alone cannot expire in the middle of a quick test push.
 *
 * For a request whose bearer token `isRejected` (revoked by expireIssuedTokens(), or past its exp
 * with no leeway), the gate asks the registry itself: it sends the
 * same method and path with an unusable token and no body, and relays the registry's own 401,
 * `WWW-Authenticate: Bearer realm=..,service=..,scope=..,error="invalid_token"` and error body.
 * Distribution checks auth before it reads a body, so nothing is written. Every other request is
 * streamed through untouched (Host kept, so the registry's Location URLs point at the gate).
 *
 * Like an Azure Container Registry, the gate also serves the token endpoints (/oauth2/...) on the
 * registry's own host, by passing them to the token issuer once setTokenService names it.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServerTls } from '../standInServer';

export interface TokenGate {
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly rejected: number;
  setUpstream(upstream: { port: number; ca?: string }): void;
  /** The plain-http port of the token issuer that answers /oauth2/ on the gate's host. */
  setTokenService(port: number): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect'];

function forwardHeaders(headers: http.IncomingHttpHeaders, overrides: http.OutgoingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  return { ...out, ...overrides };
}

/** Streams one request to a local upstream and its answer back; a refused token goes with no body. */
function relay(req: http.IncomingMessage, res: http.ServerResponse, upstream: { send: typeof http.request; port: number; agent: http.Agent }, refuse: boolean): void {
  const headers = refuse
    ? forwardHeaders(req.headers, { authorization: 'Bearer expired', 'content-length': '0' })
    : forwardHeaders(req.headers, req.headers['transfer-encoding'] ? { 'transfer-encoding': 'chunked' } : {});
  const outgoing = upstream.send({ host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers, agent: upstream.agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  outgoing.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`token gate: upstream unreachable: ${error.message}`);
    else res.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished) outgoing.destroy();
  });
  if (refuse) {
    req.resume(); // the body is dropped, as the registry would never read it
    outgoing.end();
  } else {
    req.pipe(outgoing);
  }
}

export async function startTokenGate(options: { tls?: ServerTls; isRejected: (token: string) => boolean }): Promise<TokenGate> {
  let upstream: { port: number; agent: http.Agent } | undefined;
  let tokenService: { port: number; agent: http.Agent } | undefined;
  let rejected = 0;
  const send = options.tls ? https.request : http.request;

  const handler: http.RequestListener = (req, res) => {
    if (tokenService && req.url?.startsWith('/oauth2/')) return relay(req, res, { send: http.request, ...tokenService }, false);
    if (!upstream) {
      res.writeHead(503).end('registry not started yet');
      return;
    }
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const refuse = token !== undefined && options.isRejected(token);
    if (refuse) rejected += 1;
    relay(req, res, { send, ...upstream }, refuse);
  };

  const server = options.tls
    ? https.createServer({ cert: fs.readFileSync(options.tls.cert), key: fs.readFileSync(options.tls.key) }, handler)
    : http.createServer(handler);
  server.requestTimeout = 0; // large layer uploads may take longer than Node's default 5 minutes
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get rejected() {
      return rejected;
    },
    setUpstream: ({ port: upstreamPort, ca }) => {
      const agent = options.tls ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true });
      upstream = { port: upstreamPort, agent };
    },
    setTokenService: (port) => {
      tokenService = { port, agent: new http.Agent({ keepAlive: true }) };
    },
    close: () => new Promise<void>((resolve) => {
      upstream?.agent.destroy();
      tokenService?.agent.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
