/**
 * The concurrency governor's decision, pure: given the rate one window measured at the current
 * number of connections and what came before, how many connections come next.
 */

/** The aggregate rate one window measured with `connections` allowed. */
export interface LevelSample {
  readonly connections: number;
  readonly bytesPerSecond: number;
}

/** What the rule remembers between windows. */
export interface LevelHistory {
  /** The level a probe is compared with: the last one that paid, or the first. */
  readonly baseline?: LevelSample;
  /** Probes that did not pay so far. */
  readonly failedProbes: number;
  /** Windows measured at the baseline since the last probe that did not pay. */
  readonly heldWindows?: number;
}

export interface LevelDecision {
  readonly connections: number;
  /** Measuring ends: the level holds for the rest of the transfer. */
  readonly settled: boolean;
  readonly history: LevelHistory;
}

/** A level pays when the aggregate rate rises by a quarter over the baseline. */
export const PAYING_GAIN = 1.25;
/**
 * Each connection kept at least this share of the baseline's per-connection rate: the rate grows in
 * step with the connections, the sign of a link that caps each connection rather than the whole.
 */
export const IN_STEP = 0.8;
/**
 * A probe that did not pay may have met a busy moment (a shared machine, a store's hiccup): the
 * level is held for a few windows, then probed once more before it holds for good. Where the CPU
 * is the limit the second probe comes late in a short transfer, when it costs little.
 */
export const MAX_FAILED_PROBES = 2;
export const WINDOWS_BEFORE_PROBING_AGAIN = 3;

export const START: LevelHistory = { failedProbes: 0 };

export function nextLevel(history: LevelHistory, current: LevelSample, max: number): LevelDecision {
  const { baseline, failedProbes, heldWindows = 0 } = history;
  if (baseline !== undefined && current.connections <= baseline.connections && heldWindows + 1 < WINDOWS_BEFORE_PROBING_AGAIN) {
    return { connections: current.connections, settled: false, history: { baseline: current, failedProbes, heldWindows: heldWindows + 1 } };
  }
  if (baseline === undefined || current.connections <= baseline.connections) {
    // The first window, or the baseline held after a probe that did not pay: probe upwards.
    const measured = { baseline: current, failedProbes };
    return current.connections >= max ? settle(current.connections, measured) : grow(current, 2, max, measured);
  }
  if (current.bytesPerSecond < baseline.bytesPerSecond * PAYING_GAIN) {
    // More connections did not pay: the server or the CPU may be the limit. Back to the baseline.
    const failed = { baseline, failedProbes: failedProbes + 1, heldWindows: 0 };
    return failed.failedProbes >= MAX_FAILED_PROBES ? settle(baseline.connections, failed) : { connections: baseline.connections, settled: false, history: failed };
  }
  const paid = { baseline: current, failedProbes };
  if (current.connections >= max) return settle(current.connections, paid);
  const perConnection = current.bytesPerSecond / current.connections / (baseline.bytesPerSecond / baseline.connections);
  return grow(current, perConnection >= IN_STEP ? 4 : 2, max, paid);
}

function grow(current: LevelSample, factor: number, max: number, history: LevelHistory): LevelDecision {
  return { connections: Math.min(max, current.connections * factor), settled: false, history };
}

function settle(connections: number, history: LevelHistory): LevelDecision {
  return { connections, settled: true, history };
}
