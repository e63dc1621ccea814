import { strict as assert } from 'node:assert';
import { ConcurrencyGovernor, type GovernorOptions } from '../../tasks/common/model/governor';
import type { LevelDecision } from '../../tasks/common/model/governorRule';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A governor that records each judged decision. */
function governorOf(options: GovernorOptions): { governor: ConcurrencyGovernor; decisions: LevelDecision[] } {
  const decisions: LevelDecision[] = [];
  return { governor: new ConcurrencyGovernor(8, { ...options, onJudged: (_, decision) => decisions.push(decision) }), decisions };
}

/**
 * Feeds the governor a link whose rate is `rateOf(allowed)` bytes per millisecond, shared by the
 * streaming workers, until `done()`. Bytes follow the time that really passed, so a late timer on a
 * busy machine does not change the rates; fails after 1,000 steps (the outcome is tested, not the time).
 */
async function drive(governor: ConcurrencyGovernor, rateOf: (allowed: number) => number, done: () => boolean, streaming = (allowed: number) => allowed): Promise<void> {
  let last = performance.now();
  for (let step = 0; !done(); step++) {
    if (step === 1000) throw new Error('the governor never reached the expected state');
    await tick(5);
    const now = performance.now();
    const workers = streaming(governor.allowed);
    for (let worker = 0; worker < workers; worker++) governor.received((rateOf(governor.allowed) * (now - last)) / workers, worker);
    last = now;
  }
}

const settled = (decisions: LevelDecision[]) => () => decisions.at(-1)?.settled === true;
const levels = (decisions: LevelDecision[]) => decisions.map((decision) => decision.connections);

describe('concurrency governor', () => {
  it('climbs to the maximum while more connections pay in step (a link one connection cannot fill)', async () => {
    const { governor, decisions } = governorOf({ windowMs: 100 });
    assert.equal(governor.allowed, 2);
    await drive(governor, (allowed) => allowed * 1000, settled(decisions));
    assert.deepEqual(levels(decisions), [4, 8, 8]);
    assert.equal(governor.allowed, 8);
    governor.stop();
  });

  it('steps back, probes once more, and holds when more connections do not pay (a CPU- or server-bound transfer)', async () => {
    const { governor, decisions } = governorOf({ windowMs: 100 });
    await drive(governor, () => 1000, settled(decisions));
    assert.deepEqual(levels(decisions), [4, 2, 2, 2, 4, 2]);
    assert.equal(governor.allowed, 2);
    governor.stop();
  });

  it('measures a level only once every allowed worker is streaming (a slow first byte is not a level that did not pay)', async () => {
    const { governor, decisions } = governorOf({ windowMs: 100, graceMs: 10_000 });
    // Only workers 0 and 1 ever deliver: after the first window, the level of 4 is never judged.
    let steps = 0;
    await drive(governor, (allowed) => allowed * 1000, () => ++steps > 150, () => 2);
    assert.deepEqual(levels(decisions), [4]);
    assert.equal(governor.allowed, 4);
    governor.stop();
  });

  it('judges a level after the grace period when some allowed worker never streams (the queue ran dry)', async () => {
    const { governor, decisions } = governorOf({ windowMs: 100, graceMs: 300 });
    await drive(governor, () => 1000, settled(decisions), () => 2);
    assert.deepEqual(levels(decisions), [4, 2, 2, 2, 4, 2]);
    governor.stop();
  });

  it('holds workers beyond the allowance, and releases them all on stop', async () => {
    const governor = new ConcurrencyGovernor(8, { windowMs: 1000 });
    const signal = new AbortController().signal;
    let admitted = 0;
    const waiting = [0, 1, 5, 7].map((index) => governor.admit(index, signal).then(() => admitted++));
    await tick(10);
    assert.equal(admitted, 2, 'workers 0 and 1 go at once; 5 and 7 wait');
    governor.stop();
    await Promise.all(waiting);
    assert.equal(admitted, 4);
  });

  it('releases waiting workers when the transfer is aborted', async () => {
    const governor = new ConcurrencyGovernor(8, { windowMs: 1000 });
    const abort = new AbortController();
    const waiting = governor.admit(6, abort.signal);
    abort.abort();
    await waiting;
    governor.stop();
  });
});
