/**
 * Fetch against a store that lies, through the ModelStore contract (FakeModelStore): sizes no
 * disk holds, sizes that are not sizes, 150,000 files in one version, hostile names, a read that
 * never ends, and a cancel. Every refusal names what it refused, and nothing is left on disk.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { TaskError } from '../../tasks/common/errors';
import { fetchLatestModel, type FetchOptions } from '../../tasks/common/model/fetch';
import { StoppedError } from '../../tasks/common/net/errors';
import { fakeAgent } from '../support/fakeAgent';
import { settingFailure,  testFetchOptions  } from '../support/fetchHarness';
import { FakeModelStore, type FakeObject } from '../support/fakeModelStore';
import { testServices } from '../support/services';
import { silentProgress } from '../../tasks/common/log';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('fetchLatestModel against a store that lies (fake ModelStore)', function () {
  this.timeout(120_000);
  let work: string;
  beforeEach(() => (work = mkdtempSync(join(tmpdir(), 'fetch-hostile-'))));
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  async function fetch(store: FakeModelStore, overrides: Partial<FetchOptions> = {}, services = testServices()) {
    const agent = fakeAgent({});
    const model = await fetchLatestModel(store, testFetchOptions(work, overrides), { log: agent.log, progress: silentProgress, ...services });
    return { model, agent };
  }

  it('refuses a 100 TB object before reading a byte or allocating its plan, naming the destination', async () => {
    const store = new FakeModelStore([{ name: 'churn/9.9.9/weights.bin', size: 100 * 1024 ** 4 }]);
    global.gc?.();
    const heap = process.memoryUsage().heapUsed;
    await assert.rejects(fetch(store), settingFailure({ setting: 'destination', key: 'NotEnoughDiskSpace', run: 'connectionString', input: 'destination', message: /needs 100\.0 TB, but the file system of .* \(input 'destination'\) has only/ }));
    assert.equal(store.reads.length, 0, 'no range was asked for');
    assert.ok(process.memoryUsage().heapUsed - heap < 64 * 1024 * 1024);
    assert.deepEqual(readdirSync(work), []);
  });

  for (const size of [-1, 1.5, Number.NaN, 2 ** 60]) {
    it(`refuses a listing that reports a size of ${size}`, async () => {
      const store = new FakeModelStore([{ name: 'churn/1.0.0/weights.bin', size }]);
      await assert.rejects(fetch(store), (error: unknown) => error instanceof TaskError && error.key === 'ObjectSizeInvalid' && error.message.includes('churn/1.0.0/weights.bin'));
      assert.deepEqual(readdirSync(work), []);
    });
  }

  it('takes a version of 150,000 files through listing, selection, name checks and planning without a stack overflow', async () => {
    // Writing 150,000 files costs this disk about as long as `rm -rf` of them (40-80 s here), so the
    // store fails the first read once every stage that saw the whole list has run.
    const count = 150_000;
    const objects: FakeObject[] = Array.from({ length: count }, (_, i) => ({ name: `churn/2.0.0/shard-${i % 500}/part-${i}.bin`, data: Buffer.from(String(i)) }));
    const store = new FakeModelStore(objects);
    store.fault = ({ name }) => ({ throws: new TaskError('ObjectChanged', [name]) });
    const error = await fetch(store).then(() => undefined, (failure: unknown) => failure);
    assert.ok(error instanceof TaskError && error.key === 'ObjectChanged', `a clear failure, not ${error}`);
    // Four reads run at once (the harness's concurrency): the first failures end the fetch, no file is written.
    assert.ok(store.reads.length >= 1 && store.reads.length <= 4, `the download had started and stopped at the first failures: ${store.reads.length} reads`);
    assert.deepEqual(readdirSync(work), []);
  });

  it('fetches a version of 20,000 small files whole, each verified', async () => {
    const objects: FakeObject[] = Array.from({ length: 20_000 }, (_, i) => ({ name: `churn/2.0.0/shard-${i % 100}/part-${i}.bin`, data: Buffer.from(String(i)) }));
    const { model } = await fetch(new FakeModelStore(objects), { timeoutMs: 100_000 });
    assert.equal(model.files, 20_000);
    const listing = objects.map((object) => [object.name.slice('churn/2.0.0/'.length), object.data!] as const).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.equal(model.digest, `sha256:${sha256(listing.map(([path, data]) => `${sha256(data)}  ${path}\n`).join(''))}`);
    assert.equal(readFileSync(join(model.path, 'shard-7/part-19907.bin'), 'utf8'), '19907');
  });

  it('refuses a hostile name that would be the latest version, before printing it or writing anything', async () => {
    const name = 'churn/x ##vso[task.setvariable variable=INJECTED]pwned-9.9.9.onnx';
    const store = new FakeModelStore([{ name, data: Buffer.from('evil') }, { name: 'churn/1.0.0/model.onnx', data: Buffer.from('good') }]);
    const agent = fakeAgent({});
    const fetching = fetchLatestModel(store, testFetchOptions(work), { log: agent.log, progress: silentProgress, ...testServices() });
    await assert.rejects(fetching, (error: unknown) => error instanceof TaskError && error.key === 'UnsafeNameCommand' && error.args[0] === name);
    assert.ok(!agent.lines.some((line) => line.includes('##vso[')), 'nothing printed carries the command');
    assert.equal(store.reads.length, 0);
    assert.deepEqual(readdirSync(work), []);
  });

  it('bounds the whole fetch with timeoutSeconds: a read that never ends fails DownloadTimedOut and leaves nothing', async () => {
    const store = new FakeModelStore([{ name: 'churn/1.0.0/weights.bin', data: Buffer.alloc(10) }]);
    store.readRange = async (_object, _offset, _count, signal) => {
      const stream = new Readable({ read() {} });
      signal.addEventListener('abort', () => stream.destroy(signal.reason as Error), { once: true });
      signals.push(signal);
      return stream;
    };
    const signals: AbortSignal[] = [];
    // The message names the 1.5 s limit: that limit ended the fetch (the read itself never ends).
    await assert.rejects(fetch(store, { timeoutMs: 1500 }), (error: unknown) => error instanceof TaskError && error.key === 'DownloadTimedOut' && /1\.5 seconds/.test(error.message));
    // The fetch's deadline reached the reads themselves, not an idle watchdog (10 s here) some time later.
    assert.ok(signals.length >= 1 && signals.every((signal) => signal.aborted), 'every endless read was stopped by the deadline');
    assert.deepEqual(readdirSync(work), []);
  });

  it('stops at the agent\'s cancel while listing, and it stays a cancel', async () => {
    const services = testServices();
    const store = new FakeModelStore([{ name: 'churn/1.0.0/weights.bin', data: Buffer.alloc(10) }]);
    const listing = store.list.bind(store);
    store.list = async function* (prefix, signal) {
      services.lifetime.cancel('the agent cancelled the job (SIGTERM)');
      yield* listing(prefix, signal);
    };
    await assert.rejects(fetch(store, {}, services), (error: unknown) => error instanceof StoppedError && error.reason === 'cancelled');
    assert.deepEqual(readdirSync(work), []);
  });
});
