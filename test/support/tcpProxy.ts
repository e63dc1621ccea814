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

/**
 * Credit in bytes refilled from the monotonic clock. When a chunk overdraws it, the caller waits
 * until the debt is paid plus a quantum of credit, so one timer releases ~20 ms of data rather than
 * one chunk; timer lateness is not lost because refill follows real elapsed time.
 */
export class TokenBucket {
  private tokens = 0;
  private last = performance.now();
  private readonly quantum: number;
  private readonly capacity: number;

  constructor(private readonly bytesPerSecond: number, quantumMs = 20) {
    if (!(bytesPerSecond > 0)) throw new Error(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.quantum = (bytesPerSecond * quantumMs) / 1000;
    // Room for ~100 ms of timer or event-loop lateness on a busy machine, so little credit is lost.
    this.capacity = this.quantum * 5;
  }

  /** Spends n bytes; returns how many milliseconds to hold the source before the next chunk. */
  take(n: number): number {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000);
    this.last = now;
    this.tokens -= n;
    if (this.tokens >= 0) return 0;
    return ((this.quantum - this.tokens) * 1000) / this.bytesPerSecond;
  }
}

interface PumpOptions {
  bucket?: TokenBucket;
  /** Bytes after which the connection is cut; undefined for never. */
  cutAt?: number;
  onBytes(n: number): void;
  /** Asked when cutAt is reached: true claims the cut (counted), false lets the bytes flow on. */
  claimCut(): boolean;
  /** Called once the bytes before the cut reached the kernel. */
  cut(): void;
}

/**
 * Moves bytes from src to dst. The source is paused while dst is full or the bucket is overdrawn
 * and resumes only when neither holds it.
 */
function pump(src: net.Socket, dst: net.Socket, options: PumpOptions): () => void {
  const holds = new Set<'drain' | 'rate'>();
  let forwarded = 0;
  let cutAt = options.cutAt;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
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
    clearTimeout(timer);
  };
  const forward = (chunk: Buffer) => {
    forwarded += chunk.length;
    options.onBytes(chunk.length);
    if (!dst.write(chunk)) hold('drain');
    const waitMs = options.bucket?.take(chunk.length) ?? 0;
    if (waitMs > 0) {
      hold('rate');
      timer = setTimeout(() => release('rate'), waitMs);
    }
  };
  const cutWithin = (chunk: Buffer) => {
    const piece = chunk.subarray(0, (cutAt as number) - forwarded);
    stop();
    src.pause();
    forwarded += piece.length;
    options.onBytes(piece.length);
    dst.write(piece, () => options.cut());
  };
  src.on('data', (chunk: Buffer) => {
    if (stopped) return;
    if (cutAt === undefined || forwarded + chunk.length < cutAt) return forward(chunk);
    if (options.claimCut()) return cutWithin(chunk);
    cutAt = undefined;
    forward(chunk);
  });
  dst.on('drain', () => release('drain'));
  src.on('end', () => dst.end());
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

/** Closing one side closes the other: cleanly after an orderly close, at once after an error. */
function linkLifetimes(client: net.Socket, target: net.Socket, onClosed: () => void): void {
  let closed = 0;
  const closedOne = () => {
    if (++closed === 2) onClosed();
  };
  target.on('close', (hadError) => {
    if (hadError) client.destroy();
    else if (!client.destroyed) client.end();
    closedOne();
  });
  client.on('close', () => {
    target.destroy();
    closedOne();
  });
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = options.targetHost ?? '127.0.0.1';
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
      bucket: downRate ? new TokenBucket(downRate) : undefined,
      onBytes: (n) => (stats.down += n),
      ...(upstreamCut ? uncut : cutting),
    });
    const stopUp = pump(client, target, {
      bucket: upRate ? new TokenBucket(upRate) : undefined,
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
