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
  /** Stepping down from a high start: the level just left, to be compared with this one. */
  readonly above?: LevelSample;
  /** Probes (or steps down) that found the higher level did not pay, so far. */
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
/** The fewest connections the governor starts with or steps down to. */
export const LOWEST_LEVEL = 2;
/** Each starting connection has at least this many blocks, so a level can be judged and changed while blocks remain. */
export const BLOCKS_PER_STARTING_CONNECTION = 2;

export const START: LevelHistory = { failedProbes: 0 };

/**
 * How many connections a transfer of `blocks` blocks starts with: a large listing starts high (a
 * power of two, at most `max`), so a link that caps each connection is filled from the first
 * window instead of after a climb from two; where the server or the CPU is the limit the rule steps down.
 */
export function startingLevel(blocks: number, max: number): number {
  let level = LOWEST_LEVEL;
  while (level < max && level * 2 * BLOCKS_PER_STARTING_CONNECTION <= blocks) level *= 2;
  return Math.min(level, max);
}

export function nextLevel(history: LevelHistory, current: LevelSample, max: number): LevelDecision {
  const { baseline, above, failedProbes, heldWindows = 0 } = history;
  if (above !== undefined) return judgeStepDown(above, current, failedProbes, max);
  if (baseline === undefined && current.connections > LOWEST_LEVEL) {
    // A high start: whether its connections pay is seen by measuring one level lower.
    return stepDown(current, failedProbes);
  }
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
    return holdAfterFailedProbe(baseline, failedProbes + 1);
  }
  const paid = { baseline: current, failedProbes };
  if (current.connections >= max) return settle(current.connections, paid);
  const perConnection = current.bytesPerSecond / current.connections / (baseline.bytesPerSecond / baseline.connections);
  return grow(current, perConnection >= IN_STEP ? 4 : 2, max, paid);
}

/** Compares the level left with the one a step down measured, as a probe from this one to that one. */
function judgeStepDown(above: LevelSample, current: LevelSample, failedProbes: number, max: number): LevelDecision {
  if (above.bytesPerSecond >= current.bytesPerSecond * PAYING_GAIN) {
    // The level above pays. Straight from the start, go on as after any probe that paid; below a
    // level that did not pay, go back up and hold there.
    return failedProbes === 0 ? nextLevel({ baseline: current, failedProbes }, above, max) : holdAfterFailedProbe(above, failedProbes);
  }
  return current.connections > LOWEST_LEVEL ? stepDown(current, failedProbes + 1) : holdAfterFailedProbe(current, failedProbes + 1);
}

function stepDown(current: LevelSample, failedProbes: number): LevelDecision {
  return { connections: Math.max(LOWEST_LEVEL, Math.floor(current.connections / 2)), settled: false, history: { above: current, failedProbes } };
}

/** Holds `level` for a few windows before probing once more, or for good after the last probe allowed. */
function holdAfterFailedProbe(level: LevelSample, failedProbes: number): LevelDecision {
  const history = { baseline: level, failedProbes, heldWindows: 0 };
  return failedProbes >= MAX_FAILED_PROBES ? settle(level.connections, history) : { connections: level.connections, settled: false, history };
}

function grow(current: LevelSample, factor: number, max: number, history: LevelHistory): LevelDecision {
  return { connections: Math.min(max, current.connections * factor), settled: false, history };
}

function settle(connections: number, history: LevelHistory): LevelDecision {
  return { connections, settled: true, history };
}
