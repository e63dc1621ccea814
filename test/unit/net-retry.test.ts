import { strict as assert } from 'node:assert';
import { HttpStatusError, NetworkError, StoppedError, retryVerdict } from '../../tasks/common/net/errors';
import { backoffDelay, parseRetryAfter, pause, retry, retryPolicy, policyForRetries } from '../../tasks/common/net/retry';

const fast = retryPolicy({ attempts: 4, baseDelayMs: 1, maxDelayMs: 5 });

describe('retry policy', () => {
  it('merges options into the defaults in one place', () => {
    const policy = retryPolicy({ attempts: 3, baseDelayMs: undefined });
    assert.equal(policy.attempts, 3);
    assert.equal(policy.baseDelayMs, 500);
    assert.equal(policyForRetries(5).attempts, 6);
  });

  it('doubles the pause per attempt, with jitter between half and all of it, up to the cap', () => {
    const policy = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
    assert.equal(backoffDelay(policy, 1, new Error(), () => 1), 100);
    assert.equal(backoffDelay(policy, 1, new Error(), () => 0), 50);
    assert.equal(backoffDelay(policy, 3, new Error(), () => 1), 400);
    assert.equal(backoffDelay(policy, 10, new Error(), () => 1), 1000);
  });

  it('honours Retry-After, up to its cap', () => {
    const policy = retryPolicy({ baseDelayMs: 100, maxRetryAfterMs: 5000 });
    assert.equal(backoffDelay(policy, 1, new HttpStatusError('r', 429, '', 3000), () => 1), 3000);
    assert.equal(backoffDelay(policy, 1, new HttpStatusError('r', 503, '', 600_000), () => 1), 5000);
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString()) !== undefined, true);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  it('decides from error types, not message text', () => {
    assert.equal(retryVerdict(new HttpStatusError('r', 503, '')), 'retry');
    assert.equal(retryVerdict(new HttpStatusError('r', 429, '')), 'retry');
    assert.equal(retryVerdict(new HttpStatusError('r', 501, '')), 'fail');
    assert.equal(retryVerdict(new HttpStatusError('r', 404, '')), 'fail');
    assert.equal(retryVerdict(new NetworkError('r', 'ECONNRESET', 'x')), 'retry');
    assert.equal(retryVerdict(new NetworkError('r', 'CERT_HAS_EXPIRED', 'x')), 'fail');
    assert.equal(retryVerdict(new NetworkError('r', 'ETIMEDOUT', 'x', 'response')), 'retryOnce');
    assert.equal(retryVerdict(new StoppedError('cancelled', 'x')), 'fail');
    assert.equal(retryVerdict(new Error('socket hang up')), 'fail');
  });

  it('retries transient failures until one succeeds, telling the caller each time', async () => {
    const told: number[] = [];
    let calls = 0;
    const value = await retry(async () => {
      calls += 1;
      if (calls < 3) throw new NetworkError('r', 'ECONNRESET', 'cut');
      return 'ok';
    }, fast, { onRetry: (failure) => told.push(failure.attempt) });
    assert.equal(value, 'ok');
    assert.deepEqual(told, [1, 2]);
  });

  it('gives up after the attempts, throwing the last error as it is', async () => {
    let calls = 0;
    const last = new HttpStatusError('r', 503, 'busy');
    await assert.rejects(retry(async () => {
      calls += 1;
      throw last;
    }, fast), (error) => error === last);
    assert.equal(calls, 4);
  });

  it('gives a peer that misses a deadline only one more chance', async () => {
    let calls = 0;
    await assert.rejects(retry(async () => {
      calls += 1;
      throw new NetworkError('r', 'ETIMEDOUT', 'slow', 'response');
    }, fast), NetworkError);
    assert.equal(calls, 2);
  });

  it('lets a caller classify errors it understands', async () => {
    let calls = 0;
    await assert.rejects(retry(async () => {
      calls += 1;
      throw new Error('416');
    }, fast, { classify: () => (calls < 2 ? 'retry' : 'fail') }));
    assert.equal(calls, 2);
  });

  it('stops waiting at once when the signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new StoppedError('cancelled', 'the agent cancelled the job (SIGTERM)')), 20);
    // A pause deaf to the signal resolves after its 10 s instead of rejecting: the rejection is the proof.
    await assert.rejects(pause(10_000, controller.signal), (error) => error instanceof StoppedError && error.reason === 'cancelled');
    await assert.rejects(retry(async () => 'never', fast, { signal: controller.signal }), StoppedError);
  });
});
