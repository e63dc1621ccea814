/**
 * The statistics a canary analysis rests on, pure: Mann–Whitney U for latency (normal
 * approximation with tie correction and continuity correction) and the two-proportion z-test
 * for the error rate. Both are one-sided: they ask whether the canary is WORSE than the
 * baseline, never merely different, so a faster or cleaner canary cannot fail a step.
 */

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** Standard normal upper tail P(Z >= z), from erfc (Abramowitz–Stegun 7.1.26, error < 1.5e-7). */
export function normalUpperTail(z: number): number {
  if (!Number.isFinite(z)) return z > 0 ? 0 : 1;
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

export interface MannWhitneyResult {
  /** U of the canary sample: how often a canary value beats (exceeds) a baseline value, ties count half. */
  readonly u: number;
  readonly z: number;
  /** One-sided p-value for "canary values tend to be larger than baseline values". */
  readonly pValue: number;
}

/**
 * Mann–Whitney U with midranks for ties; the variance is reduced by the tie correction
 * n1·n2/12 · ((n+1) − Σ(t³−t)/(n(n−1))). When every value is tied the variance is 0: no
 * difference at all is no regression, so z = 0 and p = 1 are reported.
 */
export function mannWhitneyGreater(canary: readonly number[], baseline: readonly number[]): MannWhitneyResult {
  const n1 = canary.length;
  const n2 = baseline.length;
  if (n1 === 0 || n2 === 0) return { u: 0, z: 0, pValue: 1 };
  const all = [...canary.map((value) => ({ value, canary: true })), ...baseline.map((value) => ({ value, canary: false }))];
  all.sort((a, b) => a.value - b.value);
  const n = all.length;
  let rankSumCanary = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1]!.value === all[i]!.value) j++;
    const midrank = (i + j) / 2 + 1;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k]!.canary) rankSumCanary += midrank;
    i = j + 1;
  }
  const u = rankSumCanary - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (!(variance > 0)) return { u, z: 0, pValue: 1 };
  // Continuity correction towards the mean, so small samples are not over-confident.
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, z, pValue: normalUpperTail(z) };
}

export interface ProportionResult {
  readonly canaryRate: number;
  readonly baselineRate: number;
  readonly z: number;
  /** One-sided p-value for "the canary's error rate is higher than the baseline's". */
  readonly pValue: number;
}

/** Two-proportion z-test with the pooled proportion. No errors on either side → z = 0, p = 1. */
export function twoProportionGreater(canaryErrors: number, canaryTotal: number, baselineErrors: number, baselineTotal: number): ProportionResult {
  const canaryRate = canaryTotal > 0 ? canaryErrors / canaryTotal : 0;
  const baselineRate = baselineTotal > 0 ? baselineErrors / baselineTotal : 0;
  if (canaryTotal === 0 || baselineTotal === 0) return { canaryRate, baselineRate, z: 0, pValue: 1 };
  const pooled = (canaryErrors + baselineErrors) / (canaryTotal + baselineTotal);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / canaryTotal + 1 / baselineTotal));
  if (!(se > 0)) return { canaryRate, baselineRate, z: 0, pValue: 1 };
  const z = (canaryRate - baselineRate) / se;
  return { canaryRate, baselineRate, z, pValue: normalUpperTail(z) };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface ComparisonOptions {
  /** Fewer samples than this on either side → inconclusive (never pass on too little evidence). */
  readonly minSamples: number;
  /** Significance level of each one-sided test. */
  readonly alpha: number;
  /**
   * A latency regression fails only when it is also large enough to matter: the canary's median
   * must exceed the baseline's by more than this fraction (0.1 = 10 %).
   */
  readonly latencyTolerance: number;
  /** An error-rate regression fails only when the canary's rate exceeds the baseline's by more than this (absolute). */
  readonly errorRateTolerance: number;
}

export const DEFAULT_COMPARISON: ComparisonOptions = { minSamples: 30, alpha: 0.01, latencyTolerance: 0.1, errorRateTolerance: 0.01 };

export interface TrackSamples {
  /** Latencies in milliseconds of the requests that got an answer (any status). */
  readonly latenciesMs: readonly number[];
  readonly requests: number;
  readonly errors: number;
}

export interface LatencyCheck {
  readonly check: 'latency';
  readonly verdict: Verdict;
  readonly canaryMedianMs: number;
  readonly baselineMedianMs: number;
  readonly u: number;
  readonly z: number;
  readonly pValue: number;
  readonly samples: { readonly canary: number; readonly baseline: number };
}

export interface ErrorRateCheck {
  readonly check: 'errorRate';
  readonly verdict: Verdict;
  readonly canaryRate: number;
  readonly baselineRate: number;
  readonly z: number;
  readonly pValue: number;
  readonly samples: { readonly canary: number; readonly baseline: number };
}

export function compareLatency(canary: TrackSamples, baseline: TrackSamples, options: ComparisonOptions = DEFAULT_COMPARISON): LatencyCheck {
  const test = mannWhitneyGreater(canary.latenciesMs, baseline.latenciesMs);
  const canaryMedianMs = median(canary.latenciesMs);
  const baselineMedianMs = median(baseline.latenciesMs);
  const enough = canary.latenciesMs.length >= options.minSamples && baseline.latenciesMs.length >= options.minSamples;
  const worse = test.pValue < options.alpha && canaryMedianMs > baselineMedianMs * (1 + options.latencyTolerance);
  return {
    check: 'latency',
    verdict: !enough ? 'inconclusive' : worse ? 'fail' : 'pass',
    canaryMedianMs,
    baselineMedianMs,
    u: test.u,
    z: test.z,
    pValue: test.pValue,
    samples: { canary: canary.latenciesMs.length, baseline: baseline.latenciesMs.length },
  };
}

export function compareErrorRate(canary: TrackSamples, baseline: TrackSamples, options: ComparisonOptions = DEFAULT_COMPARISON): ErrorRateCheck {
  const test = twoProportionGreater(canary.errors, canary.requests, baseline.errors, baseline.requests);
  const enough = canary.requests >= options.minSamples && baseline.requests >= options.minSamples;
  const worse = test.pValue < options.alpha && test.canaryRate - test.baselineRate > options.errorRateTolerance;
  return {
    check: 'errorRate',
    verdict: !enough ? 'inconclusive' : worse ? 'fail' : 'pass',
    canaryRate: test.canaryRate,
    baselineRate: test.baselineRate,
    z: test.z,
    pValue: test.pValue,
    samples: { canary: canary.requests, baseline: baseline.requests },
  };
}

/** Any failed check fails; otherwise any inconclusive one makes the whole inconclusive; otherwise pass. */
export function combineVerdicts(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes('fail')) return 'fail';
  if (verdicts.length === 0 || verdicts.includes('inconclusive')) return 'inconclusive';
  return 'pass';
}
