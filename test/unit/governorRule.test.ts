import { strict as assert } from 'node:assert';
import { nextLevel, type LevelSample } from '../../tasks/common/model/governorRule';

const MB = 1_000_000;
const at = (connections: number, megabytesPerSecond: number): LevelSample => ({ connections, bytesPerSecond: megabytesPerSecond * MB });

/** Walks the rule from two connections over a link whose rate is `rateOf(connections)`, as the governor does. */
function walk(rateOf: (connections: number) => number, max: number): number[] {
  const levels = [2];
  let baseline: LevelSample | undefined;
  for (let windows = 0; windows < 20; windows++) {
    const decision = nextLevel(baseline, at(levels.at(-1)!, rateOf(levels.at(-1)!)), max);
    baseline = decision.baseline;
    levels.push(decision.connections);
    if (decision.settled) return levels;
  }
  throw new Error(`did not settle: ${levels.join(' -> ')}`);
}

describe('concurrency governor rule', () => {
  it('doubles after the first window, having nothing to compare with yet', () => {
    assert.deepEqual(nextLevel(undefined, at(2, 80), 8), { connections: 4, settled: false, baseline: at(2, 80) });
  });

  it('quadruples when the rate grows in step with the connections (a cap on each connection)', () => {
    assert.deepEqual(nextLevel(at(2, 80), at(4, 150), 32), { connections: 16, settled: false, baseline: at(4, 150) });
    assert.deepEqual(walk((connections) => connections * 40, 32), [2, 4, 16, 32, 32]);
  });

  it('doubles when more connections pay but each gets less (a link that fills up)', () => {
    assert.deepEqual(nextLevel(at(2, 80), at(4, 110), 32), { connections: 8, settled: false, baseline: at(4, 110) });
  });

  it('stops at the maximum once it paid there', () => {
    assert.deepEqual(walk((connections) => connections * 40, 8), [2, 4, 8, 8]);
    assert.deepEqual(nextLevel(at(4, 160), at(8, 310), 8), { connections: 8, settled: true, baseline: at(8, 310) });
  });

  it('steps back to the baseline and holds when the rate stays flat (the server or the CPU is the limit)', () => {
    assert.deepEqual(nextLevel(at(2, 400), at(4, 420), 8), { connections: 2, settled: true, baseline: at(2, 400) });
    assert.deepEqual(walk(() => 400, 8), [2, 4, 2]);
  });

  it('steps back when more connections make it slower', () => {
    assert.deepEqual(walk((connections) => 500 - connections * 20, 8), [2, 4, 2]);
  });

  it('keeps the last level that paid when a later step does not', () => {
    // 40 MB/s per connection on a 180 MB/s link: 4 connections paid in step, 16 brought 180 against 160.
    assert.deepEqual(walk((connections) => Math.min(connections * 40, 180), 64), [2, 4, 16, 4]);
    // On a 200 MB/s link 16 paid (a quarter more), 32 did not.
    assert.deepEqual(walk((connections) => Math.min(connections * 40, 200), 64), [2, 4, 16, 32, 16]);
  });

  it('starts and stays at the maximum when only one connection is allowed', () => {
    assert.deepEqual(nextLevel(undefined, at(1, 50), 1), { connections: 1, settled: true, baseline: at(1, 50) });
  });
});
