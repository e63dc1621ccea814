/**
 * The concurrency governor's decision, pure: given the rate measured at the current number of
 * connections and the level it is compared with, how many connections come next.
 */

/** The aggregate rate one window measured with `connections` allowed. */
export interface LevelSample {
  readonly connections: number;
  readonly bytesPerSecond: number;
}

export interface LevelDecision {
  readonly connections: number;
  /** Measuring ends: the level holds for the rest of the transfer. */
  readonly settled: boolean;
  /** The sample the next window is compared with. */
  readonly baseline: LevelSample | undefined;
}

/** A level pays when the aggregate rate rises by a quarter over the baseline. */
export const PAYING_GAIN = 1.25;
/**
 * Each connection kept at least this share of the baseline's per-connection rate: the rate grows in
 * step with the connections, the sign of a link that caps each connection rather than the whole.
 */
export const IN_STEP = 0.8;

export function nextLevel(baseline: LevelSample | undefined, current: LevelSample, max: number): LevelDecision {
  const atMax = current.connections >= max;
  if (baseline === undefined) {
    return atMax ? settle(current.connections, current) : grow(current, 2, max);
  }
  if (current.bytesPerSecond < baseline.bytesPerSecond * PAYING_GAIN) {
    // More connections did not pay: the server or the CPU is the limit. Back to the baseline, for good.
    return settle(baseline.connections, baseline);
  }
  if (atMax) return settle(current.connections, current);
  const perConnection = current.bytesPerSecond / current.connections / (baseline.bytesPerSecond / baseline.connections);
  return grow(current, perConnection >= IN_STEP ? 4 : 2, max);
}

function grow(current: LevelSample, factor: number, max: number): LevelDecision {
  return { connections: Math.min(max, current.connections * factor), settled: false, baseline: current };
}

function settle(connections: number, baseline: LevelSample): LevelDecision {
  return { connections, settled: true, baseline };
}
