import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RestError } from '@azure/core-rest-pipeline';
import { RemoteError, TaskError } from '../../tasks/common/errors';
import { silentProgress } from '../../tasks/common/log';
import { downloadFiles, type DownloadSettings } from '../../tasks/common/model/download';
import { classifyReadFailure, RangeInterrupted } from '../../tasks/common/model/readFailure';
import type { StoredObject } from '../../tasks/common/model/store';
import { HttpStatusError, NetworkError, StoppedError } from '../../tasks/common/net/errors';
import { policyForRetries } from '../../tasks/common/net/retry';
import { fakeAgent } from '../support/fakeAgent';
import { FakeModelStore } from '../support/fakeModelStore';

const KiB = 1024;
const settings: DownloadSettings = { concurrency: 4, blockSize: 64 * KiB, retry: policyForRetries(3, { baseDelayMs: 1 }), md5: false, idleTimeoutMs: 5_000 };

describe('ranged downloads: retried through the one policy, decided from typed errors', () => {
  let work: string;
  const data = randomBytes(300 * KiB + 5);
  beforeEach(() => (work = mkdtempSync(join(tmpdir(), 'download-'))));
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  async function download(store: FakeModelStore, signal = AbortSignal.timeout(20_000), options = settings) {
    const agent = fakeAgent({});
    const objects: StoredObject[] = [];
    for await (const object of store.list('', signal)) objects.push(object);
    const targets = objects.map((object) => ({ object, path: join(work, object.name) }));
    const files = await downloadFiles(store, targets, options, { signal, log: agent.log, progress: silentProgress });
    return { files, agent };
  }

  it('resumes a range cut mid-body from its last byte, and the file is whole', async () => {
    const store = new FakeModelStore([{ name: 'model.bin', data }]);
    const cut = new Set<number>();
    store.fault = ({ offset }) => {
      if (offset % (64 * KiB) !== 0 || cut.size >= 3 || cut.has(offset)) return undefined;
      cut.add(offset);
      return { breakAfter: 1000, error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) };
    };
    const { files, agent } = await download(store);
    assert.ok(readFileSync(files[0].path).equals(data));
    const resumed = store.reads.filter((read) => read.offset % (64 * KiB) === 1000);
    assert.equal(resumed.length, 3, 'each cut range was asked again from byte 1000 of its block');
    assert.equal(agent.lines.filter((line) => /resuming where it stopped/.test(line)).length, 3);
  });

  it('hashes a file big enough for the hashing thread in file order, reading back blocks that finished before the one ahead of them', async () => {
    const big = randomBytes(9 * 1024 * KiB + 7); // over the 8 MiB from which the hashing thread reads the file back
    const store = new FakeModelStore([{ name: 'big.bin', data: big }]);
    const cut = new Set<number>();
    store.fault = ({ offset }) => {
      // The first block and one in the middle break early and resume late, so later blocks are written before them.
      if ((offset !== 0 && offset !== 70 * 64 * KiB) || cut.has(offset)) return undefined;
      cut.add(offset);
      return { breakAfter: 1000, error: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) };
    };
    const { files } = await download(store, AbortSignal.timeout(20_000), { ...settings, retry: policyForRetries(3, { baseDelayMs: 300 }) });
    assert.equal(files[0].sha256, createHash('sha256').update(big).digest('hex'));
    assert.ok(readFileSync(files[0].path).equals(big));
    assert.deepEqual(store.reads.filter((read) => read.offset % (64 * KiB) === 1000).map((read) => read.offset), [1000, 70 * 64 * KiB + 1000]);
  });

  it('retries a Blob Storage RestError with a retryable status, and fails a 403 at once', async () => {
    const busy = new FakeModelStore([{ name: 'model.bin', data }]);
    busy.fault = ({ call }) => (call === 1 ? { throws: new RestError('Server busy', { statusCode: 503, code: 'ServerBusy' }) } : undefined);
    assert.ok(readFileSync((await download(busy)).files[0].path).equals(data));

    const denied = new FakeModelStore([{ name: 'model.bin', data }]);
    const refusal = new RestError('This request is not authorized', { statusCode: 403, code: 'AuthorizationFailure' });
    denied.fault = () => ({ throws: refusal });
    await assert.rejects(download(denied), (error: unknown) => error === refusal);
    const offsets = denied.reads.map((read) => read.offset);
    assert.deepEqual(offsets, [...new Set(offsets)], 'no block was asked twice');
  });

  it('gives up after retries + 1 attempts with DownloadFailed naming the object', async () => {
    const store = new FakeModelStore([{ name: 'model.bin', data: randomBytes(10) }]);
    store.fault = () => ({ throws: new HttpStatusError('fake.store.test', 500, 'InternalError') });
    await assert.rejects(download(store), (error: unknown) => error instanceof RemoteError && error.key === 'DownloadFailed' && /model\.bin failed after 4 attempts/.test(error.message));
    assert.equal(store.reads.length, 4);
  });

  it('stops at once on cancel, without another attempt', async () => {
    const store = new FakeModelStore([{ name: 'model.bin', data }]);
    const controller = new AbortController();
    store.fault = () => {
      controller.abort(new StoppedError('cancelled', 'the agent cancelled the job'));
      return { throws: new NetworkError('fake.store.test', 'ECONNRESET', 'reset') };
    };
    await assert.rejects(download(store, controller.signal), (error: unknown) => error instanceof StoppedError && error.reason === 'cancelled');
    assert.ok(store.reads.length <= settings.concurrency);
  });

  it('plans blocks lazily: a 100 TB object costs no memory before its first byte', async () => {
    const store = new FakeModelStore([{ name: 'huge.bin', size: 100 * 1024 ** 4 }]);
    store.fault = () => ({ throws: new TaskError('ObjectChanged', ['huge.bin']) });
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    await assert.rejects(download(store), (error: unknown) => error instanceof TaskError && error.key === 'ObjectChanged');
    assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024, 'well under the 1.1 GB a materialized plan took');
  });

  it('classifies by type: interruptions resume, RestError by status or code, others by the network policy', () => {
    assert.equal(classifyReadFailure(new RangeInterrupted('h', 'ETIMEDOUT', 'stalled', { idle: true })), 'retry');
    assert.equal(classifyReadFailure(new RestError('x', { code: 'REQUEST_SEND_ERROR' })), 'retry');
    assert.equal(classifyReadFailure(new RestError('x', { statusCode: 412, code: 'ConditionNotMet' })), 'fail');
    assert.equal(classifyReadFailure(new RestError('x', { statusCode: 429 })), 'retry');
    assert.equal(classifyReadFailure(new NetworkError('h', 'ECONNREFUSED', 'refused')), 'retry');
    assert.equal(classifyReadFailure(new NetworkError('h', 'CERT_HAS_EXPIRED', 'expired')), 'fail');
    assert.equal(classifyReadFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 'fail', 'untyped errors are not guessed at');
  });
});
