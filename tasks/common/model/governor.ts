/**
 * Decides how many ranged requests run at once. It starts with two, or more for a large listing
 * (then it steps down once to see whether they pay), and measures short windows of the aggregate
 * rate; each window opens only once every allowed connection has delivered a byte, so a new
 * connection's set-up (TLS, time to first byte) never counts as a level that did not pay, and only
 * once no connection above the level is still finishing its block, so a step down measures the
 * lower level alone. Where the rate grows in step with the connections (a link that caps each connection, as cloud
 * storage does) it quadruples them; where it grows less it doubles; where it does not
 * grow (the server or the CPU is the limit: a co-located store, a 2-core agent) it steps back at
 * once, holds the level for a few windows and probes once more; after a second probe that does not
 * pay it holds for good, spending no memory or CPU on connections that would only queue.
 */
import { LOWEST_LEVEL, nextLevel, START, type LevelDecision, type LevelHistory, type LevelSample } from './governorRule';

export interface GovernorOptions {
  /** How long each measuring window lasts. */
  readonly windowMs?: number;
  /** Connections to start with (see `startingLevel`); two when not given. */
  readonly initial?: number;
  /** A window opens after this long at a level even if some allowed worker never got a byte (the queue ran dry). */
  readonly graceMs?: number;
  /** Hears each judged window and what it decided (the debug log; tests wait for a settled decision). */
  readonly onJudged?: (sample: LevelSample, decision: LevelDecision) => void;
  /** The time source and timer; tests pass a fake so no decision depends on how busy the machine is. */
  readonly clock?: GovernorClock;
}

export interface GovernorClock {
  now(): number;
  /** Runs `run` after `ms`; returns what cancels it. */
  after(ms: number, run: () => void): () => void;
}

const REAL_CLOCK: GovernorClock = {
  now: () => performance.now(),
  after(ms, run) {
    const timer = setTimeout(run, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export class ConcurrencyGovernor {
  private allowedCount: number;
  private history: LevelHistory = START;
  private settled = false;
  private released = false;
  /** Workers that delivered a byte since the level last changed. */
  private delivered = new Set<number>();
  private levelSince: number;
  private windowStart: number | undefined;
  private windowBytes = 0;
  private cancelTimer: (() => void) | undefined;
  private waiters: (() => void)[] = [];

  private readonly max: number;
  private readonly windowMs: number;
  private readonly graceMs: number;
  private readonly onJudged: (sample: LevelSample, decision: LevelDecision) => void;
  private readonly clock: GovernorClock;

  constructor(max: number, options: GovernorOptions = {}) {
    this.max = max;
    this.windowMs = options.windowMs ?? 200;
    this.graceMs = options.graceMs ?? 4 * this.windowMs;
    this.onJudged = options.onJudged ?? (() => undefined);
    this.clock = options.clock ?? REAL_CLOCK;
    this.levelSince = this.clock.now();
    this.allowedCount = Math.min(options.initial ?? LOWEST_LEVEL, max);
    // Nothing to compare with: no level above to probe, none below to step down to.
    if (max <= LOWEST_LEVEL && this.allowedCount >= max) this.settled = true;
  }

  get allowed(): number {
    return this.allowedCount;
  }

  /** Counts bytes received by worker number `worker`; windows open once every allowed worker is streaming. */
  received(bytes: number, worker: number): void {
    if (this.settled) return;
    if (worker >= this.allowedCount) {
      // A worker above the level (after a step down) still finishes its block: its bytes would be
      // counted for a level that does not have it. The window starts again once it is done.
      this.discardWindow();
      return;
    }
    if (this.windowStart !== undefined) {
      this.windowBytes += bytes;
      return;
    }
    this.delivered.add(worker);
    const now = this.clock.now();
    if (this.delivered.size >= this.allowedCount || now - this.levelSince >= this.graceMs) this.openWindow(now);
  }

  /** Waits until worker number `index` (from 0) may start another request. */
  async admit(index: number, signal: AbortSignal): Promise<void> {
    while (index >= this.allowedCount && !this.released && !signal.aborted) {
      await waitFor(this.waiters, signal);
    }
  }

  /** Ends measuring and lets every waiting worker go (to find there is nothing left to do). */
  stop(): void {
    this.finish();
    this.released = true;
    this.wake();
  }

  private openWindow(now: number): void {
    this.windowStart = now;
    this.windowBytes = 0;
    this.cancelTimer = this.clock.after(this.windowMs, () => this.judge());
  }

  private discardWindow(): void {
    this.cancelTimer?.();
    this.windowStart = undefined;
  }

  private judge(): void {
    // Timers run late on a busy machine: the rate is over the time that really passed.
    const seconds = (this.clock.now() - this.windowStart!) / 1000;
    const sample = { connections: this.allowedCount, bytesPerSecond: this.windowBytes / seconds };
    const decision = nextLevel(this.history, sample, this.max);
    this.history = decision.history;
    this.windowStart = undefined;
    this.delivered.clear();
    this.levelSince = this.clock.now();
    this.allowedCount = decision.connections;
    this.onJudged(sample, decision);
    if (decision.settled) this.finish();
    this.wake();
  }

  private finish(): void {
    this.cancelTimer?.();
    this.settled = true;
  }

  private wake(): void {
    this.waiters.splice(0).forEach((wake) => wake());
  }
}

/** Parks the caller until it is woken through `waiters` or the signal aborts; leaves no listener behind. */
export function waitFor(waiters: (() => void)[], signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = () => {
      signal.removeEventListener('abort', wake);
      resolve();
    };
    waiters.push(wake);
    signal.addEventListener('abort', wake, { once: true });
  });
}
