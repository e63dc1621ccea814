/**
 * Decides how many ranged requests run at once. It starts with two and doubles while doubling
 * pays (the rate over the next window rises by a quarter or more), then holds. On a link where one
 * connection cannot fill the pipe it climbs to the maximum within a second; where the server or the
 * CPU is the limit (a co-located store, a 2-core agent) it stays low and spends no memory or CPU on
 * connections that would only queue.
 */
export class ConcurrencyGovernor {
  private allowedCount: number;
  private bytes = 0;
  private lastRate = 0;
  private settled = false;
  private released = false;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs = 250,
    initial = 2,
  ) {
    this.allowedCount = Math.min(initial, max);
    if (this.allowedCount >= max) this.settled = true;
  }

  get allowed(): number {
    return this.allowedCount;
  }

  /** Counts received bytes; the first byte starts the measuring windows (so set-up time is not a window). */
  received(bytes: number): void {
    this.bytes += bytes;
    if (!this.timer && !this.settled) {
      this.timer = setInterval(() => this.judge(), this.windowMs);
      this.timer.unref();
    }
  }

  /** Waits until worker number `index` (from 0) may start another request. */
  async admit(index: number, signal: AbortSignal): Promise<void> {
    while (index >= this.allowedCount && !this.released && !signal.aborted) {
      await waitFor(this.waiters, signal);
    }
  }

  /** Ends measuring and lets every waiting worker go (to find there is nothing left to do). */
  stop(): void {
    clearInterval(this.timer);
    this.settled = true;
    this.released = true;
    this.wake();
  }

  private judge(): void {
    const rate = this.bytes / this.windowMs;
    this.bytes = 0;
    if (this.lastRate > 0 && rate < this.lastRate * 1.25) {
      // Doubling did not pay: go back to what we had, and keep it.
      this.allowedCount = Math.max(1, Math.floor(this.allowedCount / 2));
      this.finish();
      return;
    }
    this.lastRate = rate;
    this.allowedCount = Math.min(this.max, this.allowedCount * 2);
    if (this.allowedCount >= this.max) this.finish();
    this.wake();
  }

  private finish(): void {
    clearInterval(this.timer);
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
