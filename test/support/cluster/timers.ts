/**
 * Every delayed action of the simulator goes through here, so stop() can cancel them all and no
 * timer outlives the test. A failing callback is recorded instead of crashing the test process.
 */
export class Timers {
  private readonly handles = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Runs `fn` after `ms`; returns a cancel function. */
  after(ms: number, fn: () => void | Promise<void>): () => void {
    if (this.stopped) return () => undefined;
    const handle = setTimeout(() => {
      this.handles.delete(handle);
      if (this.stopped) return;
      try {
        Promise.resolve(fn()).catch(this.onError);
      } catch (error) {
        this.onError(error);
      }
    }, Math.max(0, ms));
    this.handles.add(handle);
    return () => {
      clearTimeout(handle);
      this.handles.delete(handle);
    };
  }

  /** Runs `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): () => void {
    let cancel = () => undefined as void;
    const tick = () => {
      fn();
      cancel = this.after(ms, tick);
    };
    cancel = this.after(ms, tick);
    return () => cancel();
  }

  stop(): void {
    this.stopped = true;
    for (const handle of this.handles) clearTimeout(handle);
    this.handles.clear();
  }
}
