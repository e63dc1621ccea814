import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { startTcpProxy, type TcpProxy } from './tcpProxy';

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 7);

interface Listening {
  port: number;
  close(): Promise<void>;
}

/** A local server whose close() also drops its live sockets. */
async function listen(onSocket: (socket: net.Socket) => void): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      sockets.forEach((socket) => socket.destroy());
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

interface Source extends Listening {
  /** Bytes the source managed to hand to its sockets (bounded by backpressure). */
  written(): number;
}

/** Sends `size` bytes (Infinity: until the peer goes) to every connection, honouring backpressure. */
async function startSource(size: number, onSocket?: (socket: net.Socket) => void): Promise<Source> {
  let written = 0;
  const server = await listen((socket) => {
    onSocket?.(socket);
    let left = size;
    const send = () => {
      while (left > 0 && !socket.destroyed) {
        const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= piece.length;
        written += piece.length;
        if (!socket.write(piece)) return void socket.once('drain', send);
      }
      if (left <= 0) socket.end();
    };
    send();
  });
  return { ...server, written: () => written };
}

interface Received {
  bytes: number;
  error?: string;
  /** Bytes per second from the first byte to the end of the reading window. */
  rate: number;
}

/** Reads from the proxy until the connection ends, or for at most `windowMs`. */
function download(proxy: TcpProxy, windowMs = 10_000): Promise<Received> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.port, proxy.host);
    let bytes = 0;
    let firstAt = 0;
    let firstChunk = 0;
    let error: string | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const seconds = (performance.now() - firstAt) / 1000;
      resolve({ bytes, error, rate: (bytes - firstChunk) / seconds });
    };
    const timer = setTimeout(finish, windowMs);
    socket.on('data', (chunk) => {
      if (!firstAt) [firstAt, firstChunk] = [performance.now(), chunk.length];
      bytes += chunk.length;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', finish);
  });
}

function assertWithin(actual: number, expected: number, tolerance: number, what: string): void {
  const low = expected * (1 - tolerance);
  const high = expected * (1 + tolerance);
  assert.ok(actual >= low && actual <= high, `${what}: ${(actual / 1e6).toFixed(2)} MB/s, expected ${(expected / 1e6).toFixed(2)} ±${tolerance * 100}%`);
}

describe('tcpProxy', function () {
  this.timeout(20_000);
  const cleanups: Array<() => Promise<void>> = [];
  const track = <T extends { close(): Promise<void> }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((close) => close()));
  });

  it('caps a download at 40 MB/s within 15% without burning CPU', async () => {
    const source = track(await startSource(Infinity));
    const proxy = track(await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 40e6 }));
    const cpuBefore = process.cpuUsage();
    const received = await download(proxy, 1500);
    const cpu = process.cpuUsage(cpuBefore);
    assertWithin(received.rate, 40e6, 0.15, 'rate');
    // The whole process (source, proxy and client) should stay well under one core.
    const cpuShare = (cpu.user + cpu.system) / 1e6 / 1.5;
    assert.ok(cpuShare < 0.8, `CPU share ${cpuShare.toFixed(2)}`);
  });

  it('caps each connection on its own', async () => {
    const source = track(await startSource(Infinity));
    const proxy = track(await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 10e6 }));
    const [first, second] = await Promise.all([download(proxy, 1200), download(proxy, 1200)]);
    assertWithin(first.rate, 10e6, 0.15, 'first connection');
    assertWithin(second.rate, 10e6, 0.15, 'second connection');
    assert.equal(proxy.connections, 2);
  });

  it('can cap uploads too', async () => {
    let received = 0;
    let startedAt = 0;
    const sink = track(await listen((socket) => socket.on('data', (chunk) => {
      startedAt ||= performance.now();
      received += chunk.length;
    })));
    const proxy = track(await startTcpProxy({
      targetPort: sink.port,
      upstreamBytesPerSecondPerConnection: 10e6,
    }));
    const client = net.connect(proxy.port, proxy.host);
    const pushMore = () => { while (client.write(CHUNK)); };
    client.on('drain', pushMore);
    pushMore();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const seconds = (performance.now() - startedAt) / 1000;
    client.destroy();
    assertWithin(received / seconds, 10e6, 0.15, 'upload');
  });

  it('passes bytes both ways unchanged when no cap or cut is set', async () => {
    const echo = track(await listen((socket) => socket.pipe(socket)));
    const proxy = track(await startTcpProxy({ targetPort: echo.port }));
    const client = net.connect(proxy.port, proxy.host);
    const parts: Buffer[] = [];
    client.on('data', (chunk) => parts.push(chunk));
    const ended = new Promise((resolve) => client.on('end', resolve));
    const payload = Buffer.from('hello through the proxy;'.repeat(1000));
    client.end(payload);
    await ended;
    assert.deepEqual(Buffer.concat(parts), payload);
    assert.equal(proxy.bytesUpstream, payload.length);
    assert.equal(proxy.bytesDownstream, payload.length);
  });

  it("cuts cleanly ('close') after exactly the byte count given", async () => {
    const source = track(await startSource(4 * MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port, cut: { afterBytes: MiB + 123, mode: 'close' } }));
    const received = await download(proxy);
    assert.equal(received.bytes, MiB + 123);
    assert.equal(received.error, undefined);
    assert.equal(proxy.cuts, 1);
    assert.equal(proxy.bytesDownstream, MiB + 123);
  });

  it("resets both sides ('reset') at the byte count given", async () => {
    let targetError!: Promise<string | undefined>;
    const source = track(await startSource(Infinity, (socket) => {
      targetError = new Promise((resolve) => socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code)));
    }));
    const proxy = track(await startTcpProxy({ targetPort: source.port, cut: { afterBytes: MiB } }));
    const received = await download(proxy);
    // A Node client sees the RST as ECONNRESET or, when it had drained its buffer, as an early EOF
    // (libuv reports a hang-up after a partial read as EOF); either way the bytes stop short.
    assert.ok(received.bytes <= MiB, `received ${received.bytes}`);
    assert.equal(proxy.bytesDownstream, MiB);
    assert.equal(await targetError, 'ECONNRESET');
    assert.equal(proxy.cuts, 1);
  });

  it('follows a schedule: cut each connection once, at most twice in total, later ones succeed', async () => {
    const source = track(await startSource(MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port, cut: { afterBytes: 200_000, maxCuts: 2 } }));
    const attempts = [];
    for (let i = 0; i < 4; i++) attempts.push(await download(proxy));
    const complete = attempts.map((attempt) => attempt.bytes === MiB && attempt.error === undefined);
    assert.deepEqual(complete, [false, false, true, true]);
    assert.ok(attempts.slice(0, 2).every((attempt) => attempt.bytes <= 200_000));
    assert.equal(proxy.cuts, 2);
  });

  it('never exceeds maxCuts with concurrent connections', async () => {
    const source = track(await startSource(MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port, cut: { afterBytes: 100_000, maxCuts: 2 } }));
    const results = await Promise.all([1, 2, 3, 4].map(() => download(proxy)));
    assert.equal(results.filter((r) => r.bytes === MiB).length, 2);
    assert.equal(proxy.cuts, 2);
  });

  it('cuts only the connections onlyConnections picks, at a per-connection byte count', async () => {
    const source = track(await startSource(MiB));
    const proxy = track(await startTcpProxy({
      targetPort: source.port,
      cut: { afterBytes: (n) => n * 1000, onlyConnections: (n) => n % 2 === 0, mode: 'close' },
    }));
    const sizes = [];
    for (let i = 0; i < 4; i++) sizes.push((await download(proxy)).bytes);
    assert.deepEqual(sizes, [MiB, 2000, MiB, 4000]);
  });

  it('applies a new cut plan to later connections', async () => {
    const source = track(await startSource(MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port }));
    assert.equal((await download(proxy)).bytes, MiB);
    proxy.setCutPlan({ afterBytes: 1000, mode: 'close' });
    assert.equal((await download(proxy)).bytes, 1000);
    proxy.setCutPlan(undefined);
    assert.equal((await download(proxy)).bytes, MiB);
  });

  it('propagates backpressure: a stalled client stalls the source', async () => {
    const source = track(await startSource(Infinity));
    const proxy = track(await startTcpProxy({ targetPort: source.port }));
    const client = net.connect(proxy.port, proxy.host);
    client.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Only socket buffers (kernel and stream high-water marks) may fill; nothing grows without bound.
    assert.ok(source.written() < 32 * MiB, `source wrote ${source.written()} bytes`);
    assert.ok(proxy.bytesDownstream < 16 * MiB, `proxy forwarded ${proxy.bytesDownstream} bytes`);
    client.destroy();
  });

  it('close() stops accepting and destroys live connections', async () => {
    const source = track(await startSource(Infinity));
    const proxy = await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 1e6 });
    const pending = download(proxy);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(proxy.activeConnections, 1);
    await proxy.close();
    const received = await pending;
    assert.ok(received.bytes > 0 && received.bytes < 1e6);
    const refused = await new Promise<string>((resolve) => {
      net.connect(proxy.port, proxy.host).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? '')).on('connect', () => resolve('connected'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    assert.equal(proxy.activeConnections, 0);
  });
});
