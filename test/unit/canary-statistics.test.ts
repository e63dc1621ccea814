/** The canary analysis statistics, pure. Reference p-values are SciPy 1.17's (mannwhitneyu asymptotic with continuity; norm.sf). */
import * as assert from 'node:assert/strict';
import {
  combineVerdicts,
  compareErrorRate,
  compareLatency,
  mannWhitneyGreater,
  median,
  normalUpperTail,
  twoProportionGreater,
  type TrackSamples,
} from '../../tasks/common/kube/strategy/statistics';

const close = (actual: number, expected: number, tolerance = 1e-6): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not within ${tolerance} of ${expected}`);

/** A small deterministic generator, so the samples are reproducible without hard-coding them. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function track(random: () => number, count: number, medianMs: number, spreadMs: number, errorRate: number): TrackSamples {
  const latenciesMs = Array.from({ length: count }, () => Math.round(medianMs + (random() - 0.5) * 2 * spreadMs));
  const errors = Array.from({ length: count }, () => random() < errorRate).filter(Boolean).length;
  return { latenciesMs, requests: count, errors };
}

describe('canary statistics', () => {
  it('has the standard normal upper tail', () => {
    close(normalUpperTail(0), 0.5);
    close(normalUpperTail(1.96), 0.024997895148220435);
    close(normalUpperTail(-0.5), 0.6914624612740131);
    assert.equal(normalUpperTail(Infinity), 0);
    assert.equal(normalUpperTail(-Infinity), 1);
  });

  it('computes Mann–Whitney U with ties and continuity as SciPy does', () => {
    const separated = mannWhitneyGreater([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]);
    assert.equal(separated.u, 25);
    close(separated.pValue, 0.006092890177672406);
    const tied = mannWhitneyGreater([1, 2, 2, 3, 3, 3, 4], [1, 1, 2, 2, 3]);
    assert.equal(tied.u, 25.5);
    close(tied.pValue, 0.10158695879254287);
    const mixed = mannWhitneyGreater([12, 15, 15, 18, 20, 22, 22, 30], [10, 11, 15, 15, 16, 17, 19]);
    assert.equal(mixed.u, 42);
    close(mixed.pValue, 0.05729481351567598);
    // One-sided: a faster canary is no evidence of a regression.
    assert.ok(mannWhitneyGreater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).pValue > 0.99);
    assert.deepEqual(mannWhitneyGreater([3, 3, 3], [3, 3]), { u: 3, z: 0, pValue: 1 });
    assert.equal(mannWhitneyGreater([], [1]).pValue, 1);
  });

  it('computes the pooled two-proportion z-test', () => {
    const worse = twoProportionGreater(12, 100, 3, 100);
    close(worse.z, 2.4161617987704873);
    close(worse.pValue, 0.00784254489489403);
    close(twoProportionGreater(5, 200, 4, 200).pValue, 0.36800273329961236);
    assert.deepEqual(twoProportionGreater(0, 50, 0, 50), { canaryRate: 0, baselineRate: 0, z: 0, pValue: 1 });
    assert.equal(twoProportionGreater(1, 0, 0, 10).pValue, 1);
  });

  it('takes the median', () => {
    assert.equal(median([]), 0);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
  });

  it('fails a slower canary, passes an equal one, and is inconclusive on too few samples', () => {
    const random = lcg(16);
    const baseline = track(random, 60, 40, 10, 0);
    const slower = compareLatency(track(random, 60, 80, 10, 0), baseline);
    assert.equal(slower.verdict, 'fail');
    assert.ok(slower.pValue < 1e-6 && slower.canaryMedianMs > slower.baselineMedianMs);
    assert.deepEqual(slower.samples, { canary: 60, baseline: 60 });
    assert.equal(compareLatency(track(random, 60, 40, 10, 0), baseline).verdict, 'pass');
    assert.equal(compareLatency(track(random, 60, 20, 10, 0), baseline).verdict, 'pass');
    assert.equal(compareLatency(track(random, 10, 80, 10, 0), baseline).verdict, 'inconclusive');
  });

  it('does not fail a latency difference that is significant but within the tolerance', () => {
    const random = lcg(7);
    const baseline = track(random, 400, 100, 2, 0);
    const slightlySlower = compareLatency(track(random, 400, 104, 2, 0), baseline);
    assert.ok(slightlySlower.pValue < 0.01, 'the difference is significant');
    assert.equal(slightlySlower.verdict, 'pass');
    assert.equal(compareLatency(track(random, 400, 104, 2, 0), baseline, { minSamples: 30, alpha: 0.01, latencyTolerance: 0.01, errorRateTolerance: 0 }).verdict, 'fail');
  });

  it('fails an erroring canary, passes a clean one, and is inconclusive on too few requests', () => {
    const random = lcg(3);
    const baseline = track(random, 100, 40, 5, 0.01);
    const erroring = compareErrorRate(track(random, 100, 40, 5, 0.3), baseline);
    assert.equal(erroring.verdict, 'fail');
    assert.ok(erroring.canaryRate > 0.15 && erroring.pValue < 0.01);
    assert.equal(compareErrorRate(track(random, 100, 40, 5, 0), baseline).verdict, 'pass');
    assert.equal(compareErrorRate({ latenciesMs: [], requests: 5, errors: 5 }, baseline).verdict, 'inconclusive');
  });

  it('combines verdicts: any fail fails, then any inconclusive, nothing is inconclusive', () => {
    assert.equal(combineVerdicts(['pass', 'inconclusive', 'fail']), 'fail');
    assert.equal(combineVerdicts(['pass', 'inconclusive']), 'inconclusive');
    assert.equal(combineVerdicts(['pass', 'pass']), 'pass');
    assert.equal(combineVerdicts([]), 'inconclusive');
  });
});
