import { strict as assert } from 'node:assert';
import { nextLevel, START, startingLevel, type LevelHistory, type LevelSample } from '../../tasks/common/model/governorRule';

const MB = 1_000_000;
const at = (connections: number, megabytesPerSecond: number): LevelSample => ({ connections, bytesPerSecond: megabytesPerSecond * MB });
const after = (baseline: LevelSample, failedProbes = 0): LevelHistory => ({ baseline, failedProbes });
const held = (baseline: LevelSample, failedProbes: number, heldWindows: number): LevelHistory => ({ baseline, failedProbes, heldWindows });

/** Walks the rule from `start` connections over windows whose rates `rateOf(connections, window)` gives, as the governor does. */
function walk(rateOf: (connections: number, window: number) => number, max: number, start = 2): number[] {
  const levels = [start];
  let history = START;
  for (let window = 0; window < 20; window++) {
    const decision = nextLevel(history, at(levels.at(-1)!, rateOf(levels.at(-1)!, window)), max);
    history = decision.history;
    levels.push(decision.connections);
    if (decision.settled) return levels;
  }
  throw new Error(`did not settle: ${levels.join(' -> ')}`);
}

describe('concurrency governor rule', () => {
  it('doubles after the first window, having nothing to compare with yet', () => {
    assert.deepEqual(nextLevel(START, at(2, 80), 8), { connections: 4, settled: false, history: after(at(2, 80)) });
  });

  it('quadruples when the rate grows in step with the connections (a cap on each connection)', () => {
    assert.deepEqual(nextLevel(after(at(2, 80)), at(4, 150), 32), { connections: 16, settled: false, history: after(at(4, 150)) });
    assert.deepEqual(walk((connections) => connections * 40, 32), [2, 4, 16, 32, 32]);
  });

  it('doubles when more connections pay but each gets less (a link that fills up)', () => {
    assert.deepEqual(nextLevel(after(at(2, 80)), at(4, 110), 32), { connections: 8, settled: false, history: after(at(4, 110)) });
  });

  it('stops at the maximum once it paid there', () => {
    assert.deepEqual(walk((connections) => connections * 40, 8), [2, 4, 8, 8]);
    assert.deepEqual(nextLevel(after(at(4, 160)), at(8, 310), 8), { connections: 8, settled: true, history: after(at(8, 310)) });
  });

  it('steps back to the baseline when a probe does not pay, holds it for three windows, and probes once more', () => {
    assert.deepEqual(nextLevel(after(at(2, 400)), at(4, 420), 8), { connections: 2, settled: false, history: held(at(2, 400), 1, 0) });
    assert.deepEqual(nextLevel(held(at(2, 400), 1, 0), at(2, 380), 8), { connections: 2, settled: false, history: held(at(2, 380), 1, 1) });
    assert.deepEqual(nextLevel(held(at(2, 380), 1, 1), at(2, 390), 8), { connections: 2, settled: false, history: held(at(2, 390), 1, 2) });
    assert.deepEqual(nextLevel(held(at(2, 390), 1, 2), at(2, 385), 8), { connections: 4, settled: false, history: after(at(2, 385), 1) });
  });

  it('holds the baseline for good after a second probe that does not pay (the server or the CPU is the limit)', () => {
    assert.deepEqual(nextLevel(after(at(2, 400), 1), at(4, 410), 8), { connections: 2, settled: true, history: held(at(2, 400), 2, 0) });
    assert.deepEqual(walk(() => 400, 8), [2, 4, 2, 2, 2, 4, 2]);
    assert.deepEqual(walk((connections) => 500 - connections * 20, 8), [2, 4, 2, 2, 2, 4, 2]);
  });

  it('recovers from one busy window on a capped link: the second probe finds the gain', () => {
    // 40 MB/s per connection, but the first window at 4 met a busy moment (70 MB/s).
    assert.deepEqual(walk((connections, window) => (window === 1 ? 70 : connections * 40), 8), [2, 4, 2, 2, 2, 4, 8, 8]);
  });

  it('keeps the last level that paid when later probes do not', () => {
    // 40 MB/s per connection on a 180 MB/s link: 4 connections paid in step, 16 and then 8 brought 180 against 160.
    assert.deepEqual(walk((connections) => Math.min(connections * 40, 180), 64), [2, 4, 16, 4, 4, 4, 8, 4]);
    // On a 200 MB/s link 16 paid (a quarter more), 32 did not.
    assert.deepEqual(walk((connections) => Math.min(connections * 40, 200), 64), [2, 4, 16, 32, 16, 16, 16, 32, 16]);
  });

  it('starts and stays at the maximum when only one connection is allowed', () => {
    assert.deepEqual(nextLevel(START, at(1, 50), 1), { connections: 1, settled: true, history: after(at(1, 50)) });
  });

  describe('a high start (a large listing)', () => {
    it('starts with as many connections as give each at least two blocks, a power of two from 2 up to the maximum', () => {
      assert.equal(startingLevel(1, 8), 2);
      assert.equal(startingLevel(7, 8), 2);
      assert.equal(startingLevel(8, 8), 4);
      assert.equal(startingLevel(16, 8), 8); // 256 MiB in 16 MiB blocks
      assert.equal(startingLevel(64, 8), 8);
      assert.equal(startingLevel(64, 6), 6);
      assert.equal(startingLevel(64, 32), 32);
      assert.equal(startingLevel(64, 1), 1);
    });

    it('steps down once from the start and goes back when the higher level paid (a cap on each connection)', () => {
      assert.deepEqual(nextLevel(START, at(8, 320), 8), { connections: 4, settled: false, history: { above: at(8, 320), failedProbes: 0 } });
      assert.deepEqual(walk((connections) => connections * 40, 8, 8), [8, 4, 8]);
      assert.deepEqual(walk((connections) => connections * 40, 32, 8), [8, 4, 32, 32]);
    });

    it('steps down to two and holds for good where the server or the CPU is the limit', () => {
      assert.deepEqual(walk(() => 400, 8, 8), [8, 4, 2, 2]);
      assert.deepEqual(walk((connections) => 500 - connections * 20, 8, 8), [8, 4, 2, 2]);
    });

    it('goes back to the lowest level that paid, holds it and probes once more where the link as a whole fills up', () => {
      // 40 MB/s per connection on a 180 MB/s link: 8 brought 180 against 160 at 4, and 4 paid over 2.
      assert.deepEqual(walk((connections) => Math.min(connections * 40, 180), 8, 8), [8, 4, 2, 4, 4, 4, 8, 4]);
    });

    it('with the maximum at the lowest level, probes nothing', () => {
      assert.deepEqual(nextLevel(START, at(2, 80), 2), { connections: 2, settled: true, history: after(at(2, 80)) });
    });
  });
});
