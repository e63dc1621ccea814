import { strict as assert } from 'node:assert';
import { ConcurrencyGovernor, type GovernorClock, type GovernorOptions } from '../../tasks/common/model/governor';
import type { LevelDecision } from '../../tasks/common/model/governorRule';

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Time that moves only when the test says: timers fire in order as it advances. */
class FakeClock implements GovernorClock {
  private time = 0;
  private timers: { at: number; run: () => void }[] = [];
  now(): number {
    return this.time;
  }
  after(ms: number, run: () => void): () => void {
    const timer = { at: this.time + ms, run };
    this.timers.push(timer);
    return () => (this.timers = this.timers.filter((other) => other !== timer));
  }
  advance(ms: number): void {
    const until = this.time + ms;
    for (let next = this.due(until); next; next = this.due(until)) {
      this.timers = this.timers.filter((other) => other !== next);
      this.time = next.at;
      next.run();
    }
    this.time = until;
  }
  private due(until: number) {
    return this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
  }
}

/** A governor on a fake clock that records each judged decision. */
function governorOf(options: GovernorOptions): { governor: ConcurrencyGovernor; decisions: LevelDecision[]; clock: FakeClock } {
  const decisions: LevelDecision[] = [];
  const clock = new FakeClock();
  return { governor: new ConcurrencyGovernor(8, { ...options, clock, onJudged: (_, decision) => decisions.push(decision) }), decisions, clock };
}

/**
 * Feeds the governor a link whose rate is `rateOf(allowed)` bytes per millisecond, shared by the
 * streaming workers, in 5 ms steps of the fake clock until `done()`; fails after 1,000 steps.
 */
function drive(governor: ConcurrencyGovernor, clock: FakeClock, rateOf: (allowed: number) => number, done: () => boolean, streaming = (allowed: number) => allowed): void {
  for (let step = 0; !done(); step++) {
    if (step === 1000) throw new Error('the governor never reached the expected state');
    const workers = streaming(governor.allowed);
    for (let worker = 0; worker < workers; worker++) governor.received((rateOf(governor.allowed) * 5) / workers, worker);
    clock.advance(5);
  }
}

const settled = (decisions: LevelDecision[]) => () => decisions.at(-1)?.settled === true;
const levels = (decisions: LevelDecision[]) => decisions.map((decision) => decision.connections);

describe('concurrency governor', () => {
  it('climbs to the maximum while more connections pay in step (a link one connection cannot fill)', async () => {
    const { governor, decisions, clock } = governorOf({ windowMs: 100 });
    assert.equal(governor.allowed, 2);
    drive(governor, clock, (allowed) => allowed * 1000, settled(decisions));
    assert.deepEqual(levels(decisions), [4, 8, 8]);
    assert.equal(governor.allowed, 8);
    governor.stop();
  });

  it('steps back, probes once more, and holds when more connections do not pay (a CPU- or server-bound transfer)', async () => {
    const { governor, decisions, clock } = governorOf({ windowMs: 100 });
    drive(governor, clock, () => 1000, settled(decisions));
    assert.deepEqual(levels(decisions), [4, 2, 2, 2, 4, 2]);
    assert.equal(governor.allowed, 2);
    governor.stop();
  });

  it('measures a level only once every allowed worker is streaming (a slow first byte is not a level that did not pay)', async () => {
    const { governor, decisions, clock } = governorOf({ windowMs: 100, graceMs: 10_000 });
    // Only workers 0 and 1 ever deliver: after the first window, the level of 4 is never judged.
    let steps = 0;
    drive(governor, clock, (allowed) => allowed * 1000, () => ++steps > 150, () => 2);
    assert.deepEqual(levels(decisions), [4]);
    assert.equal(governor.allowed, 4);
    governor.stop();
  });

  it('judges a level after the grace period when some allowed worker never streams (the queue ran dry)', async () => {
    const { governor, decisions, clock } = governorOf({ windowMs: 100, graceMs: 300 });
    drive(governor, clock, () => 1000, settled(decisions), () => 2);
    assert.deepEqual(levels(decisions), [4, 2, 2, 2, 4, 2]);
    governor.stop();
  });

  it('a high start steps down once and goes back up on a link that caps each connection, measuring the lower level without the workers still finishing their blocks', async () => {
    const decisions: LevelDecision[] = [];
    const samples: number[] = [];
    const clock = new FakeClock();
    const governor = new ConcurrencyGovernor(8, { windowMs: 100, initial: 8, clock, onJudged: (sample, decision) => (samples.push(sample.bytesPerSecond), decisions.push(decision)) });
    // Each worker streams 1,000 bytes per ms; after a step down the workers above the level finish their blocks for another 150 ms.
    let steppedDownAt: number | undefined;
    for (let step = 0; !settled(decisions)(); step++) {
      if (step === 1000) throw new Error('the governor never settled');
      if (governor.allowed < 8) steppedDownAt ??= clock.now();
      const finishing = steppedDownAt !== undefined && clock.now() - steppedDownAt < 150 ? 8 : governor.allowed;
      for (let worker = 0; worker < Math.max(finishing, governor.allowed); worker++) governor.received(5000, worker);
      clock.advance(5);
    }
    assert.deepEqual(levels(decisions), [4, 8]);
    assert.deepEqual(samples.map((rate) => Math.round(rate / 1e6)), [8, 4], 'the level of 4 was measured with four workers streaming');
    governor.stop();
  });

  it('a high start steps down to two and holds where the CPU is the limit', async () => {
    const { governor, decisions, clock } = governorOf({ windowMs: 100, initial: 8 });
    assert.equal(governor.allowed, 8);
    drive(governor, clock, () => 1000, settled(decisions));
    assert.deepEqual(levels(decisions), [4, 2, 2]);
    assert.equal(governor.allowed, 2);
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
