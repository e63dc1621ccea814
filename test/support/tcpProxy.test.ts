import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { startTcpProxy, TokenBucket, type ProxyClock } from './tcpProxy';
import { listen, read, sendBytes, startSource, type Reader } from './tcpPeers';

const MiB = 1024 * 1024;

/** A clock that moves only when told to; timers due by then fire in order inside advance(). */
class SteppedClock implements ProxyClock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();
  /** Timers ever set. */
  scheduled = 0;
  now(): number { return this.time; }
  setTimeout(callback: () => void, ms: number): number {
    this.scheduled++;
    this.timers.set(this.nextId, { at: this.time + ms, callback });
    return this.nextId++;
  }
  clearTimeout(handle: unknown): void { this.timers.delete(handle as number); }
  get pending(): number { return this.timers.size; }
  advance(ms: number): void {
    this.time += ms;
    for (;;) {
      const due = [...this.timers].filter(([, timer]) => timer.at <= this.time).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) return;
      this.timers.delete(due[0]);
      due[1].callback();
    }
  }
}

/** Yields to the event loop until `condition` holds; gives up (a failure, not a measure) after 15 s. */
async function until(condition: () => boolean): Promise<void> {
  const giveUpAt = performance.now() + 15_000;
  while (!condition()) {
    if (performance.now() > giveUpAt) throw new Error(`gave up waiting for ${condition}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('TokenBucket', () => {
  it('grants one quantum at first, then credit in proportion to the time elapsed, banking at most five quanta', () => {
    let now = 0;
    const bucket = new TokenBucket(1e6, 20, () => now);
    assert.equal(bucket.grant(50_000), 20_000);
    assert.equal(bucket.grant(1), 0);
    assert.equal(bucket.waitMs(30_000), 20, 'a quantum of credit is 20 ms away');
    assert.equal(bucket.waitMs(500), 0.5, 'a smaller remainder waits less');
    now = 5;
    assert.equal(bucket.grant(50_000), 5_000);
    now = 10_005;
    assert.equal(bucket.grant(Infinity), 100_000);
  });

  it('keeps fractions of a byte as credit', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 20, () => now);
    assert.equal(bucket.grant(20), 20);
    now = 1.5;
    assert.equal(bucket.grant(10), 1);
    now = 2;
    assert.equal(bucket.grant(10), 1);
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => new TokenBucket(0), /bytesPerSecond must be positive, got 0/);
  });
});

describe('tcpProxy', function () {
  this.timeout(60_000);
  const cleanups: Array<() => Promise<void>> = [];
  const track = <T extends { close(): Promise<void> }>(thing: T): T => {
    cleanups.push(() => thing.close());
    return thing;
  };
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((close) => close()));
  });

  describe('throttle, paced by a stepped clock', () => {
    /** Waits until every throttled direction holds on the clock and what it let through has arrived. */
    const settled = (clock: SteppedClock, directions: number, arrived: () => boolean) => until(() => clock.pending === directions && arrived());

    it('releases a download at the rate: one quantum, then bytes in proportion to the clock, bursts capped', async () => {
      const clock = new SteppedClock();
      const source = track(await startSource(Infinity));
      const proxy = track(await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 1e6, clock }));
      const reader = read(proxy.port, proxy.host);
      const released: number[] = [];
      for (const step of [0, 20, 100, 1000]) {
        clock.advance(step);
        await settled(clock, 1, () => reader.bytes === proxy.bytesDownstream);
        released.push(proxy.bytesDownstream);
      }
      // 1 MB/s is 1000 bytes a millisecond; an idle second banks at most five 20 ms quanta.
      assert.deepEqual(released, [20_000, 40_000, 140_000, 240_000]);
      assert.equal(proxy.bytesUpstream, 0);
      reader.socket.destroy();
    });

    it("passes the source's end on only after the bytes still waiting for credit", async () => {
      const clock = new SteppedClock();
      const source = track(await startSource(100_000));
      const proxy = track(await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 1e6, clock }));
      const reader = read(proxy.port, proxy.host);
      let ended = false;
      void reader.done.then(() => (ended = true));
      while (!ended) {
        await until(() => ended || clock.pending === 1);
        clock.advance(20);
      }
      // At 1 MB/s the 100,000 bytes need five 20 ms quanta; the source's FIN came long before.
      assert.deepEqual(await reader.done, { bytes: 100_000, error: undefined });
    });

    it('gives each connection its own budget', async () => {
      const clock = new SteppedClock();
      const source = track(await startSource(Infinity));
      const proxy = track(await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 1e6, clock }));
      const readers = [read(proxy.port, proxy.host), read(proxy.port, proxy.host)];
      const arrived = () => readers[0].bytes + readers[1].bytes === proxy.bytesDownstream;
      await settled(clock, 2, arrived);
      assert.deepEqual(readers.map((r) => r.bytes), [20_000, 20_000]);
      clock.advance(100);
      await settled(clock, 2, arrived);
      assert.deepEqual(readers.map((r) => r.bytes), [120_000, 120_000]);
      assert.equal(proxy.connections, 2);
      readers.forEach((r) => r.socket.destroy());
    });

    it('limits upload and download separately, each at its own rate', async () => {
      const clock = new SteppedClock();
      let sunk = 0;
      const target = track(await listen((socket) => {
        socket.on('data', (chunk: Buffer) => (sunk += chunk.length));
        sendBytes(socket, Infinity);
      }));
      const proxy = track(await startTcpProxy({
        targetPort: target.port,
        bytesPerSecondPerConnection: 1e6,
        upstreamBytesPerSecondPerConnection: 500_000,
        clock,
      }));
      const client: Reader = read(proxy.port, proxy.host);
      sendBytes(client.socket, Infinity);
      const arrived = () => client.bytes === proxy.bytesDownstream && sunk === proxy.bytesUpstream;
      await settled(clock, 2, arrived);
      assert.deepEqual([proxy.bytesUpstream, proxy.bytesDownstream], [10_000, 20_000]);
      clock.advance(100);
      await settled(clock, 2, arrived);
      assert.deepEqual([proxy.bytesUpstream, proxy.bytesDownstream], [60_000, 120_000]);
      client.socket.destroy();
    });

    it('holds nothing back and sets no timer when no rate is set', async () => {
      const clock = new SteppedClock();
      const source = track(await startSource(4 * MiB));
      const proxy = track(await startTcpProxy({ targetPort: source.port, clock }));
      const received = await read(proxy.port, proxy.host).done;
      assert.deepEqual(received, { bytes: 4 * MiB, error: undefined });
      assert.equal(clock.scheduled, 0);
    });

    it('close() stops accepting, destroys live connections and clears their timers', async () => {
      const clock = new SteppedClock();
      const source = track(await startSource(Infinity));
      const proxy = await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 1e6, clock });
      const reader = read(proxy.port, proxy.host);
      await settled(clock, 1, () => reader.bytes === proxy.bytesDownstream);
      assert.equal(proxy.activeConnections, 1);
      await proxy.close();
      assert.equal((await reader.done).bytes, 20_000);
      await until(() => proxy.activeConnections === 0);
      assert.equal(clock.pending, 0);
      const refused = await new Promise<string>((resolve) => {
        net.connect(proxy.port, proxy.host).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? '')).on('connect', () => resolve('connected'));
      });
      assert.equal(refused, 'ECONNREFUSED');
    });
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

  it('passes bytes unchanged under a real-time cap too', async () => {
    const echo = track(await listen((socket) => socket.pipe(socket)));
    const proxy = track(await startTcpProxy({ targetPort: echo.port, bytesPerSecondPerConnection: 50e6, upstreamBytesPerSecondPerConnection: 50e6 }));
    const parts: Buffer[] = [];
    const client = read(proxy.port, proxy.host, (chunk) => parts.push(chunk));
    const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => `${i};`).join(''));
    client.socket.end(payload);
    await client.done;
    assert.deepEqual(Buffer.concat(parts), payload);
  });

  it("cuts cleanly ('close') after exactly the byte count given", async () => {
    const source = track(await startSource(4 * MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port, cut: { afterBytes: MiB + 123, mode: 'close' } }));
    const received = await read(proxy.port, proxy.host).done;
    assert.equal(received.bytes, MiB + 123);
    assert.equal(received.error, undefined);
    assert.equal(proxy.cuts, 1);
    assert.equal(proxy.bytesDownstream, MiB + 123);
  });

  it('cuts at the byte count given under a cap as well', async () => {
    const clock = new SteppedClock();
    const source = track(await startSource(4 * MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port, bytesPerSecondPerConnection: 1e6, clock, cut: { afterBytes: 150_000, mode: 'close' } }));
    const reader = read(proxy.port, proxy.host);
    let gone = false;
    void reader.done.then(() => (gone = true));
    // Step the clock until the cut ends the connection, wherever the chunks fall.
    while (!gone) {
      await until(() => gone || clock.pending === 1);
      clock.advance(100);
    }
    const received = await reader.done;
    assert.equal(received.bytes, 150_000);
    assert.equal(proxy.bytesDownstream, 150_000);
    assert.equal(proxy.cuts, 1);
  });

  it("resets both sides ('reset') at the byte count given", async () => {
    let targetError!: Promise<string | undefined>;
    const source = track(await startSource(Infinity, (socket) => {
      targetError = new Promise((resolve) => socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code)));
    }));
    const proxy = track(await startTcpProxy({ targetPort: source.port, cut: { afterBytes: MiB } }));
    const received = await read(proxy.port, proxy.host).done;
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
    for (let i = 0; i < 4; i++) attempts.push(await read(proxy.port, proxy.host).done);
    const complete = attempts.map((attempt) => attempt.bytes === MiB && attempt.error === undefined);
    assert.deepEqual(complete, [false, false, true, true]);
    assert.ok(attempts.slice(0, 2).every((attempt) => attempt.bytes <= 200_000));
    assert.equal(proxy.cuts, 2);
  });

  it('never exceeds maxCuts with concurrent connections', async () => {
    const source = track(await startSource(MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port, cut: { afterBytes: 100_000, maxCuts: 2 } }));
    const results = await Promise.all([1, 2, 3, 4].map(() => read(proxy.port, proxy.host).done));
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
    for (let i = 0; i < 4; i++) sizes.push((await read(proxy.port, proxy.host).done).bytes);
    assert.deepEqual(sizes, [MiB, 2000, MiB, 4000]);
  });

  it('applies a new cut plan to later connections', async () => {
    const source = track(await startSource(MiB));
    const proxy = track(await startTcpProxy({ targetPort: source.port }));
    assert.equal((await read(proxy.port, proxy.host).done).bytes, MiB);
    proxy.setCutPlan({ afterBytes: 1000, mode: 'close' });
    assert.equal((await read(proxy.port, proxy.host).done).bytes, 1000);
    proxy.setCutPlan(undefined);
    assert.equal((await read(proxy.port, proxy.host).done).bytes, MiB);
  });

  it('propagates backpressure: a stalled client stalls the source', async () => {
    const source = track(await startSource(Infinity));
    const proxy = track(await startTcpProxy({ targetPort: source.port }));
    const client = net.connect(proxy.port, proxy.host);
    client.pause();
    // Once the buffers are full nothing moves: wait until the source has written the same total
    // over many turns of the event loop, then check the total is only what buffers hold.
    let last = -1;
    let still = 0;
    while (still < 200) {
      await new Promise((resolve) => setImmediate(resolve));
      still = source.written() === last ? still + 1 : 0;
      last = source.written();
    }
    // Only socket buffers (kernel and stream high-water marks) may fill; nothing grows without bound.
    assert.ok(source.written() < 32 * MiB, `source wrote ${source.written()} bytes`);
    assert.ok(proxy.bytesDownstream < 16 * MiB, `proxy forwarded ${proxy.bytesDownstream} bytes`);
    client.destroy();
  });
});
