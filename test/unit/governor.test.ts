import { strict as assert } from 'node:assert';
import { ConcurrencyGovernor } from '../../tasks/common/model/governor';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Feeds the governor a link whose rate is `rateOf(allowed)` bytes per 5 ms, shared by the allowed workers, for `ms` milliseconds. */
async function drive(governor: ConcurrencyGovernor, rateOf: (allowed: number) => number, ms: number, streaming = (allowed: number) => allowed): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += 5) {
    const workers = streaming(governor.allowed);
    for (let worker = 0; worker < workers; worker++) governor.received(rateOf(governor.allowed) / workers, worker);
    await tick(5);
  }
}

describe('concurrency governor', () => {
  it('climbs to the maximum while each doubling pays (a link one connection cannot fill)', async () => {
    const governor = new ConcurrencyGovernor(8, 40);
    assert.equal(governor.allowed, 2);
    await drive(governor, (allowed) => allowed * 1000, 400);
    assert.equal(governor.allowed, 8);
    governor.stop();
  });

  it('steps back and holds when doubling does not pay (a CPU- or server-bound transfer)', async () => {
    const governor = new ConcurrencyGovernor(8, 40);
    await drive(governor, () => 1000, 400);
    assert.equal(governor.allowed, 2);
    governor.stop();
  });

  it('measures a level only once every allowed worker is streaming (a slow first byte is not a level that did not pay)', async () => {
    const governor = new ConcurrencyGovernor(8, 40, 2, 10_000);
    // Only workers 0 and 1 ever deliver: the level of 4 is never judged, however long it runs.
    await drive(governor, (allowed) => allowed * 1000, 400, () => 2);
    assert.equal(governor.allowed, 4);
    governor.stop();
  });

  it('judges a level after the grace period when some allowed worker never streams (the queue ran dry)', async () => {
    const governor = new ConcurrencyGovernor(8, 20, 2, 60);
    await drive(governor, () => 1000, 400, () => 2);
    assert.equal(governor.allowed, 2);
    governor.stop();
  });

  it('holds workers beyond the allowance, and releases them all on stop', async () => {
    const governor = new ConcurrencyGovernor(8, 1000);
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
    const governor = new ConcurrencyGovernor(8, 1000);
    const abort = new AbortController();
    const waiting = governor.admit(6, abort.signal);
    abort.abort();
    await waiting;
    governor.stop();
  });
});
