/**
 * A TCP proxy for fault tests and benchmarks: caps each connection's throughput and cuts
 * connections mid-transfer on a plan. "Downstream" is target -> client (a download), "upstream" is
 * client -> target (an upload).
 *
 * Throttling pauses the source socket instead of buffering, so backpressure reaches the real
 * sender and memory stays flat whatever the transfer size.
 */
import * as net from 'node:net';

export interface CutPlan {
  /** Bytes (HTTP headers included) a connection forwards in `direction` before it is cut. */
  afterBytes: number | ((connection: number) => number);
  /** Cuts in total across all connections; later connections are left alone. Default: no limit. */
  maxCuts?: number;
  /** Which connections (numbered from 1 in accept order) may be cut. Default: every one. */
  onlyConnections?: (connection: number) => boolean;
  /** Which way the bytes are counted and cut: 'downstream' (a download, the default) or 'upstream' (an upload). */
  direction?: 'downstream' | 'upstream';
  /** 'reset' sends a TCP RST both ways (ECONNRESET); 'close' ends cleanly after the bytes (premature EOF). */
  mode?: 'reset' | 'close';
}

export interface TcpProxyOptions {
  targetHost?: string;
  targetPort: number;
  /** Cap on target -> client bytes per second, for each connection on its own. */
  bytesPerSecondPerConnection?: number;
  /** Cap on client -> target bytes per second, for each connection on its own. */
  upstreamBytesPerSecondPerConnection?: number;
  cut?: CutPlan;
  /** The time the throttle paces by; default real time. Tests pass a fake one to step it. */
  clock?: ProxyClock;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  readonly activeConnections: number;
  /** Connections cut so far. */
  readonly cuts: number;
  readonly bytesDownstream: number;
  readonly bytesUpstream: number;
  /** Downstream plus upstream. */
  readonly bytesForwarded: number;
  /** Replaces the cut plan for connections accepted from now on (the cut count carries on). */
  setCutPlan(plan: CutPlan | undefined): void;
  /** Drops every live connection (e.g. idle keep-alive ones) but keeps listening. */
  destroyConnections(): void;
  close(): Promise<void>;
}

/** Where the pacing reads the time and sets its timers; a fake one makes the pacing deterministic. */
export interface ProxyClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: ProxyClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Credit in bytes refilled from a clock: a pure function of the bytes granted and the time elapsed.
 * It starts with one quantum (~20 ms of data) and banks at most five, so timer or event-loop
 * lateness on a busy machine loses little credit while an idle connection cannot burst far.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly quantum: number;
  readonly capacity: number;

  constructor(private readonly bytesPerSecond: number, quantumMs = 20, private readonly now: () => number = realClock.now) {
    if (!(bytesPerSecond > 0)) throw new Error(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.quantum = (bytesPerSecond * quantumMs) / 1000;
    this.capacity = this.quantum * 5;
    this.tokens = this.quantum;
    this.last = now();
  }

  /** Spends and returns the whole bytes of `wanted` the credit covers now (0 to `wanted`). */
  grant(wanted: number): number {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000);
    this.last = now;
    const granted = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= granted;
    return granted;
  }

  /** Milliseconds until the credit covers `wanted` bytes or a quantum, whichever is less. */
  waitMs(wanted: number): number {
    const need = Math.min(wanted, this.quantum) - this.tokens;
    return need > 0 ? (need * 1000) / this.bytesPerSecond : 0;
  }
}

interface PumpOptions {
  bucket?: TokenBucket;
  clock: ProxyClock;
  /** Bytes after which the connection is cut; undefined for never. */
  cutAt?: number;
  onBytes(n: number): void;
  /** Asked when cutAt is reached: true claims the cut (counted), false lets the bytes flow on. */
  claimCut(): boolean;
  /** Called once the bytes before the cut reached the kernel. */
  cut(): void;
}

/**
 * Moves bytes from src to dst. The source is paused while dst is full or the bucket holds back
 * the rest of a chunk (at most one chunk waits here), and resumes only when neither holds it.
 */
function pump(src: net.Socket, dst: net.Socket, options: PumpOptions): () => void {
  const { bucket, clock } = options;
  const holds = new Set<'drain' | 'rate'>();
  let forwarded = 0;
  let cutAt = options.cutAt;
  let stopped = false;
  /** The source ended while bytes still waited for credit: dst ends once they are sent. */
  let ending = false;
  let timer: unknown;
  /** Bytes read but not yet covered by the bucket's credit. */
  let waiting: Buffer | undefined;
  const hold = (reason: 'drain' | 'rate') => {
    holds.add(reason);
    src.pause();
  };
  const release = (reason: 'drain' | 'rate') => {
    holds.delete(reason);
    if (holds.size === 0 && !stopped && !src.destroyed) src.resume();
  };
  const stop = () => {
    stopped = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };
  const send = (piece: Buffer) => {
    forwarded += piece.length;
    options.onBytes(piece.length);
    if (!dst.write(piece)) hold('drain');
  };
  /** Sends as much of the waiting bytes as the credit allows; waits on the clock for the rest. */
  const paced = () => {
    timer = undefined;
    if (stopped || !waiting) return;
    const granted = bucket ? bucket.grant(waiting.length) : waiting.length;
    if (granted > 0) send(waiting.subarray(0, granted));
    waiting = granted < waiting.length ? waiting.subarray(granted) : undefined;
    if (!waiting) {
      if (holds.has('rate')) release('rate');
      if (ending) dst.end();
      return;
    }
    hold('rate');
    timer = clock.setTimeout(paced, (bucket as TokenBucket).waitMs(waiting.length));
  };
  const forward = (chunk: Buffer) => {
    waiting = waiting ? Buffer.concat([waiting, chunk]) : chunk;
    if (timer === undefined) paced();
  };
  const cutWithin = (chunk: Buffer) => {
    // The bytes before the cut go at once, whatever the rate: the cut is the point of the plan.
    const before = waiting ? Buffer.concat([waiting, chunk]) : chunk;
    const piece = before.subarray(0, (cutAt as number) - forwarded);
    stop();
    src.pause();
    forwarded += piece.length;
    options.onBytes(piece.length);
    dst.write(piece, () => options.cut());
  };
  src.on('data', (chunk: Buffer) => {
    if (stopped) return;
    const read = forwarded + (waiting?.length ?? 0) + chunk.length;
    if (cutAt === undefined || read < cutAt) return forward(chunk);
    if (options.claimCut()) return cutWithin(chunk);
    cutAt = undefined;
    forward(chunk);
  });
  dst.on('drain', () => release('drain'));
  // A paused stream still emits 'end' once it has handed out its last chunk, which may wait here.
  src.on('end', () => (waiting ? (ending = true) : dst.end()));
  return stop;
}

function silence(socket: net.Socket): void {
  // Resets and aborted peers are the point of this proxy; they must not crash the test process.
  socket.on('error', () => undefined);
}

/** Ends the pair the way the plan says; the bytes before the cut are already in the kernel. */
function cutPair(client: net.Socket, target: net.Socket, mode: 'reset' | 'close'): void {
  if (mode === 'close') {
    client.end();
    target.destroy();
    return;
  }
  if (!client.destroyed) client.resetAndDestroy();
  if (!target.destroyed) target.resetAndDestroy();
}

/**
 * Closing one side closes the other: at once after an error; after an orderly close the pump ends
 * the client once the bytes still waiting for credit are sent.
 */
function linkLifetimes(client: net.Socket, target: net.Socket, onClosed: () => void): void {
  let closed = 0;
  const closedOne = () => {
    if (++closed === 2) onClosed();
  };
  target.on('close', (hadError) => {
    if (hadError) client.destroy();
    closedOne();
  });
  client.on('close', () => {
    target.destroy();
    closedOne();
  });
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const clock = options.clock ?? realClock;
  const live = new Set<net.Socket>();
  const stats = { connections: 0, cuts: 0, down: 0, up: 0, active: 0 };
  let currentPlan = options.cut;

  const cutPointFor = (plan: CutPlan | undefined, connection: number): number | undefined => {
    if (!plan || (plan.onlyConnections && !plan.onlyConnections(connection))) return undefined;
    return typeof plan.afterBytes === 'function' ? plan.afterBytes(connection) : plan.afterBytes;
  };

  const startPumps = (client: net.Socket, target: net.Socket, connection: number) => {
    const plan = currentPlan;
    const downRate = options.bytesPerSecondPerConnection;
    const upRate = options.upstreamBytesPerSecondPerConnection;
    const upstreamCut = plan?.direction === 'upstream';
    const cutting = {
      cutAt: cutPointFor(plan, connection),
      // Checked at the cut, not at accept, so concurrent connections never exceed maxCuts.
      claimCut: () => {
        if (stats.cuts >= (plan?.maxCuts ?? Infinity)) return false;
        stats.cuts++;
        return true;
      },
      cut: () => cutPair(client, target, plan?.mode ?? 'reset'),
    };
    const uncut = { claimCut: () => false, cut: () => undefined };
    const stopDown = pump(target, client, {
      bucket: downRate ? new TokenBucket(downRate, undefined, () => clock.now()) : undefined,
      clock,
      onBytes: (n) => (stats.down += n),
      ...(upstreamCut ? uncut : cutting),
    });
    const stopUp = pump(client, target, {
      bucket: upRate ? new TokenBucket(upRate, undefined, () => clock.now()) : undefined,
      clock,
      onBytes: (n) => (stats.up += n),
      ...(upstreamCut ? cutting : uncut),
    });
    return () => {
      stopDown();
      stopUp();
    };
  };

  const relay = (client: net.Socket) => {
    const connection = ++stats.connections;
    stats.active++;
    const target = net.connect({ host: targetHost, port: options.targetPort, allowHalfOpen: true });
    for (const socket of [client, target]) {
      silence(socket);
      socket.setNoDelay(true);
      live.add(socket);
    }
    client.pause();
    let stopPumps: () => void = () => undefined;
    linkLifetimes(client, target, () => {
      stopPumps();
      live.delete(client);
      live.delete(target);
      stats.active--;
    });
    target.on('connect', () => {
      stopPumps = startPumps(client, target, connection);
      client.resume();
    });
  };

  const server = net.createServer({ allowHalfOpen: true }, relay);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as net.AddressInfo;
  const destroyConnections = () => {
    for (const socket of live) socket.destroy();
  };

  return {
    host: address,
    port,
    get connections() { return stats.connections; },
    get activeConnections() { return stats.active; },
    get cuts() { return stats.cuts; },
    get bytesDownstream() { return stats.down; },
    get bytesUpstream() { return stats.up; },
    get bytesForwarded() { return stats.down + stats.up; },
    setCutPlan(plan) { currentPlan = plan; },
    destroyConnections,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      destroyConnections();
      return closed;
    },
  };
}
