/**
 * The network layer against real sockets: a TLS server with a private CA, the loopback forward
 * proxy (plain and authenticating), and servers that misbehave in each way a deadline or limit
 * is there for.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { BodyTooLargeError, NetworkError, ProxyError, StoppedError } from '../../tasks/common/net/errors';
import { BODY_LIMITS } from '../../tasks/common/net/body';
import { Network } from '../../tasks/common/net/network';
import { networkSettings, proxySettings } from '../../tasks/common/net/settings';
import { agentNetworkSettings } from '../../tasks/common/pipeline/network';
import { ForwardProxy } from '../support/forwardProxy';
import { createTestCa } from '../support/tls';

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('network layer', function () {
  this.timeout(30_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'net-test-'));
  const ca = createTestCa(dir);
  const caPem = fs.readFileSync(ca.caCert, 'utf8');
  const servers: net.Server[] = [];
  const proxies: ForwardProxy[] = [];
  const networks: Network[] = [];

  async function tlsServer(handler: Handler): Promise<string> {
    const server = https.createServer({ cert: fs.readFileSync(ca.cert), key: fs.readFileSync(ca.key) }, handler);
    servers.push(server);
    return `https://127.0.0.1:${await listen(server)}`;
  }

  async function plainServer(handler: Handler): Promise<string> {
    const server = http.createServer(handler);
    servers.push(server);
    return `http://127.0.0.1:${await listen(server)}`;
  }

  function network(settings = networkSettings({ tls: { ca: [caPem] } })): Network {
    const created = new Network(settings);
    networks.push(created);
    return created;
  }

  after(async () => {
    networks.forEach((created) => created.close());
    await Promise.all(proxies.map((proxy) => proxy.close()));
    for (const server of servers) {
      (server as http.Server).closeAllConnections?.();
      server.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const hello: Handler = (_request, response) => response.end('hello');

  it('reaches an https peer through the proxy with CONNECT, and a plain-http one by forwarding', async () => {
    const secure = await tlsServer(hello);
    const plain = await plainServer(hello);
    const proxy = await ForwardProxy.start();
    proxies.push(proxy);
    const client = network(networkSettings({ proxy: proxySettings(new URL(proxy.url), []), tls: { ca: [caPem] } }));
    assert.equal(await (await client.send({ method: 'GET', url: new URL(`${secure}/a`) })).text(100, 'a body'), 'hello');
    assert.equal(await (await client.send({ method: 'GET', url: new URL(`${plain}/b?x=1`) })).text(100, 'a body'), 'hello');
    assert.deepEqual(proxy.requests.map((request) => request.method), ['CONNECT', 'GET']);
    assert.equal(proxy.requests[0].target, new URL(secure).host);
    assert.equal(proxy.requests[1].target, `${plain}/b?x=1`);
  });

  it('authenticates to a proxy that asks, and fails with a ProxyError naming it when the password is wrong', async () => {
    const secure = await tlsServer(hello);
    const proxy = await ForwardProxy.start({ username: 'build', password: 'pr0xy-pass' });
    proxies.push(proxy);
    const good = network(networkSettings({ proxy: proxySettings(new URL(proxy.url), [], 'build', 'pr0xy-pass'), tls: { ca: [caPem] } }));
    assert.equal((await good.send({ method: 'GET', url: new URL(secure) })).status, 200);
    const bad = network(networkSettings({ proxy: proxySettings(new URL(proxy.url), [], 'build', 'wrong'), tls: { ca: [caPem] } }));
    await assert.rejects(bad.send({ method: 'GET', url: new URL(secure) }), (error) => error instanceof ProxyError && error.status === 407 && !error.message.includes('wrong'));
  });

  it('goes direct to hosts on the bypass list, as task-lib matches them', async () => {
    const secure = await tlsServer(hello);
    const proxy = await ForwardProxy.start();
    proxies.push(proxy);
    const client = network(networkSettings({ proxy: proxySettings(new URL(proxy.url), [/127\.0\.0\.1/i]), tls: { ca: [caPem] } }));
    assert.equal(client.route(new URL(secure)), 'direct');
    assert.equal((await client.send({ method: 'GET', url: new URL(secure) })).status, 200);
    assert.equal(proxy.requests.length, 0);
  });

  it('reads the agent proxy and CA as task-lib reports them, and masks the proxy password', () => {
    const secrets: string[] = [];
    const settings = agentNetworkSettings({
      proxy: { proxyUrl: 'http://proxy.corp:8080', proxyUsername: 'svc', proxyPassword: 's3cret-proxy', proxyBypassHosts: ['\\.internal\\.corp'] },
      cert: { caFile: ca.caCert },
      env: {},
    }, (value) => secrets.push(value));
    assert.equal(settings.proxy?.url.href, 'http://proxy.corp:8080/');
    assert.ok(secrets.includes('s3cret-proxy'));
    assert.ok(!JSON.stringify(settings).includes('s3cret-proxy'));
    assert.equal(settings.tls.ca.length, 1);
    const client = new Network(settings);
    assert.equal(client.route(new URL('https://registry.internal.corp/v2/')), 'direct');
    assert.deepEqual(client.route(new URL('https://contoso.azurecr.io/v2/')), { proxy: 'proxy.corp:8080' });
    // The managed-identity endpoint is the machine's own: never through a proxy.
    assert.equal(client.route(new URL('http://169.254.169.254/metadata/identity/oauth2/token')), 'direct');
  });

  it('falls back to HTTPS_PROXY and NO_PROXY without an agent proxy', () => {
    const settings = agentNetworkSettings({ proxy: null, cert: null, env: { HTTPS_PROXY: 'http://u:p%40ss@10.0.0.1:3128', NO_PROXY: '.svc.local,localhost' } }, () => undefined);
    const client = new Network(settings);
    assert.equal(settings.proxy?.password, 'p@ss');
    assert.equal(client.route(new URL('http://localhost:5000/')), 'direct');
    assert.equal(client.route(new URL('https://api.svc.local/x')), 'direct');
    assert.deepEqual(client.route(new URL('https://s3.amazonaws.com/')), { proxy: '10.0.0.1:3128' });
  });

  it('refuses a peer whose certificate it cannot trust, with the TLS code', async () => {
    const secure = await tlsServer(hello);
    await assert.rejects(network(networkSettings()).send({ method: 'GET', url: new URL(secure) }), (error) => error instanceof NetworkError && /CERT|SIGNED|VERIFY/.test(error.code));
  });

  it('ends a connection that never completes TLS at the connect deadline', async () => {
    let hungUp!: () => void;
    const closed = new Promise<void>((resolve) => (hungUp = resolve));
    const silent = net.createServer((socket) => socket.resume().on('close', hungUp)); // reads, so it sees our FIN
    servers.push(silent);
    const port = await listen(silent);
    await assert.rejects(network().send({ method: 'GET', url: new URL(`https://127.0.0.1:${port}/`), deadlines: { connectMs: 300 } }), (error) => error instanceof NetworkError && error.code === 'ETIMEDOUT' && error.phase === 'connect' && /within 300 ms$/.test(error.message));
    await closed; // the peer saw us hang up (the suite's timeout guards a socket left open)
  });

  it('ends a request that gets no answer at the response deadline', async () => {
    const url = await plainServer(() => undefined);
    await assert.rejects(network().send({ method: 'GET', url: new URL(url), deadlines: { responseMs: 300 } }), (error) => error instanceof NetworkError && error.phase === 'response');
  });

  it('ends a body that stops arriving at the idle deadline, and one that trickles at the body deadline', async () => {
    const stalls = await plainServer((_request, response) => {
      response.writeHead(200, { 'content-length': 100 });
      response.write('x');
    });
    const stalled = await network().send({ method: 'GET', url: new URL(stalls), deadlines: { idleMs: 300 } });
    await assert.rejects(stalled.text(1000, 'a stalled body'), (error) => error instanceof NetworkError && error.phase === 'idle');
    const trickles = await plainServer((_request, response) => {
      response.writeHead(200);
      const timer = setInterval(() => response.write('x'), 50);
      response.on('close', () => clearInterval(timer));
    });
    const trickled = await network().send({ method: 'GET', url: new URL(trickles), deadlines: { bodyMs: 400, idleMs: 10_000 } });
    await assert.rejects(trickled.text(1_000_000, 'a trickled body'), (error) => error instanceof NetworkError && error.phase === 'body');
  });

  it('refuses a body over its limit from Content-Length before reading it, and while counting without one', async () => {
    const declares = await plainServer((_request, response) => {
      response.writeHead(200, { 'content-length': String(BODY_LIMITS.json + 1) });
      response.end(Buffer.alloc(BODY_LIMITS.json + 1));
    });
    await assert.rejects((await network().send({ method: 'GET', url: new URL(declares) })).json(BODY_LIMITS.json, 'a token response'), BodyTooLargeError);
    const streams = await plainServer((_request, response) => {
      response.writeHead(200);
      response.end(Buffer.alloc(3 * 1024 * 1024));
    });
    await assert.rejects((await network().send({ method: 'GET', url: new URL(streams) })).bytes(1024 * 1024, 'a manifest'), (error) => error instanceof BodyTooLargeError && error.limit === 1024 * 1024);
  });

  it('returns the connection of a discarded HEAD answer to the pool at once', async () => {
    const server = http.createServer((_request, response) => response.writeHead(200, { 'content-length': '5' }).end());
    servers.push(server);
    let connections = 0;
    server.on('connection', () => (connections += 1));
    const url = `http://127.0.0.1:${await listen(server)}/`;
    const client = network();
    // Sequential HEADs on a freed socket share one connection; a socket held back means a new one each time.
    for (let i = 0; i < 10; i++) await (await client.send({ method: 'HEAD', url: new URL(url) })).discard();
    assert.equal(connections, 1);
  });

  it('stops a request at once when the task is cancelled', async () => {
    const controller = new AbortController();
    let hungUp!: () => void;
    const closed = new Promise<void>((resolve) => (hungUp = resolve));
    // Cancelled once the request has arrived; its default deadlines (60 s) would outlast the suite's timeout.
    const url = await plainServer((request) => {
      request.socket.on('close', hungUp);
      controller.abort(new StoppedError('cancelled', 'the agent cancelled the job (SIGTERM)'));
    });
    await assert.rejects(network().send({ method: 'GET', url: new URL(url), signal: controller.signal }), (error) => error instanceof StoppedError && error.reason === 'cancelled');
    await closed; // and the connection was dropped, not left waiting
  });
});
