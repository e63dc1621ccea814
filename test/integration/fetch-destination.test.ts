/**
 * Where Fetch writes: a destination it did not install is never replaced, the previous model is
 * replaced atomically, a killed run's staging folder is cleaned up by the next run, and a cache
 * entry whose files changed after they were verified is never installed.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SettingError } from '../../tasks/common/errors';
import { fetchLatestModel, type FetchOptions } from '../../tasks/common/model/fetch';
import { markerPath } from '../../tasks/common/model/install';
import { fakeAgent } from '../support/fakeAgent';
import { assertHolds,  settingFailure,  testFetchOptions  } from '../support/fetchHarness';
import { FakeModelStore } from '../support/fakeModelStore';
import { testServices } from '../support/services';
import { silentProgress } from '../../tasks/common/log';

const v1 = { 'model.bin': Buffer.from('weights of 1.0.0'), 'vocab/words.txt': Buffer.from('a\nb\n') };
const v2 = { 'model.bin': Buffer.from('weights of 2.0.0!'), 'labels.txt': Buffer.from('yes\nno\n') };
const storeOf = (version: string, files: Record<string, Buffer>) => new FakeModelStore(Object.entries(files).map(([path, data]) => ({ name: `churn/${version}/${path}`, data })));

describe('fetchLatestModel: destination safety and cache integrity', function () {
  this.timeout(60_000);
  let work: string;
  let destination: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-destination-'));
    destination = join(work, 'model');
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  async function fetch(store: FakeModelStore, overrides: Partial<FetchOptions> = {}) {
    const agent = fakeAgent({});
    const model = await fetchLatestModel(store, testFetchOptions(work, overrides), { log: agent.log, progress: silentProgress, ...testServices() });
    return { model, agent };
  }

  it('installs into a new folder, and replaces its own previous model whole', async () => {
    await fetch(storeOf('1.0.0', v1));
    assertHolds(destination, v1);
    const { model } = await fetch(storeOf('2.0.0', v2));
    assert.equal(model.version, '2.0.0');
    assertHolds(destination, v2);
    assert.deepEqual(JSON.parse(readFileSync(markerPath(destination), 'utf8')).files.sort(), Object.keys(v2).sort());
    assert.deepEqual(readdirSync(work).sort(), ['.model.fetch-latest-model', 'model'], 'no staging or previous folder left');
  });

  it('refuses a non-empty folder it did not create, naming the input and a file, and keeps every file', async () => {
    mkdirSync(join(destination, 'notes'), { recursive: true });
    writeFileSync(join(destination, 'notes', 'keep.txt'), 'mine');
    await assert.rejects(fetch(storeOf('1.0.0', v1)), settingFailure({ setting: 'destination', key: 'DestinationForeign', run: 'connectionString', input: 'destination', message: /^Input 'destination' is .*\(such as 'notes\/keep\.txt'\)/ }));
    assert.equal(readFileSync(join(destination, 'notes', 'keep.txt'), 'utf8'), 'mine');
    assert.deepEqual(readdirSync(work), ['model']);
  });

  it('accepts an existing empty folder', async () => {
    mkdirSync(destination);
    await fetch(storeOf('1.0.0', v1));
    assertHolds(destination, v1);
  });

  it('refuses to replace its own model once someone else added a file to it, and keeps that file', async () => {
    await fetch(storeOf('1.0.0', v1));
    writeFileSync(join(destination, 'results.csv'), 'precious');
    await assert.rejects(fetch(storeOf('2.0.0', v2)), (error: unknown) => error instanceof SettingError && error.key === 'DestinationForeign' && error.message.includes('results.csv'));
    assert.equal(readFileSync(join(destination, 'results.csv'), 'utf8'), 'precious');
    assert.equal(readFileSync(join(destination, 'model.bin'), 'utf8'), 'weights of 1.0.0');
  });

  it('removes the staging folder a killed run left behind, and leaves a running one\'s alone', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const stale = join(work, `.model.partial-${dead}-0badcafe`);
    const live = join(work, `.model.partial-${process.pid}-1badcafe`);
    for (const folder of [stale, `${stale}.previous`, live]) mkdirSync(folder);
    writeFileSync(join(stale, 'half.bin'), 'half a model');
    const { agent } = await fetch(storeOf('1.0.0', v1));
    assert.deepEqual(readdirSync(work).sort(), ['.model.fetch-latest-model', `.model.partial-${process.pid}-1badcafe`, 'model']);
    assert.ok(agent.lines.some((line) => line.includes(`left behind by process ${dead}`)));
  });

  describe('the cache detects files changed after they were verified', () => {
    let cacheDirectory: string;
    beforeEach(() => (cacheDirectory = join(work, 'cache')));

    const cachedFile = (name: string) => {
      const entry = readdirSync(cacheDirectory).find((folder) => !folder.includes('.tmp-'))!;
      return join(cacheDirectory, entry, 'files', name);
    };

    it('an untouched entry is a hit, and nothing is hashed again', async () => {
      const store = storeOf('1.0.0', v1);
      await fetch(store, { cacheDirectory });
      const reads = store.reads.length;
      rmSync(destination, { recursive: true });
      const { model, agent } = await fetch(store, { cacheDirectory });
      assert.ok(model.fromCache);
      assert.equal(store.reads.length, reads, 'no byte was read from the store');
      assert.ok(!agent.lines.some((line) => /re-hashing cached/.test(line)));
      assertHolds(destination, v1);
      // The files restored by hard link are then found in place, again without a read.
      const held = await fetch(store, { cacheDirectory });
      assert.ok(held.agent.lines.some((line) => /already holds this verified model/.test(line)));
      assert.ok(!held.agent.lines.some((line) => /re-hashing/.test(line)), held.agent.lines.join('\n'));
      assert.equal(store.reads.length, reads);
    });

    it('a destination that still holds the verified model is a hit with nothing copied or read', async () => {
      const store = storeOf('1.0.0', v1);
      await fetch(store, { cacheDirectory });
      const inode = statSync(join(destination, 'model.bin')).ino;
      const reads = store.reads.length;
      const { model, agent } = await fetch(store, { cacheDirectory });
      assert.ok(model.fromCache);
      assert.equal(store.reads.length, reads, 'no byte was read from the store');
      assert.ok(agent.lines.some((line) => /already holds this verified model/.test(line)), agent.lines.join('\n'));
      assert.ok(!agent.lines.some((line) => /re-hashing/.test(line)));
      assert.equal(statSync(join(destination, 'model.bin')).ino, inode, 'the same file, not a copy');
      assert.equal(model.digest, (await fetch(storeOf('1.0.0', v1))).model.digest, 'the digest of a full download');
    });

    it('restores by hard link into read-only files, and a write through the link is caught: the model is downloaded again', async () => {
      const store = storeOf('1.0.0', v1);
      await fetch(store, { cacheDirectory });
      rmSync(destination, { recursive: true });
      const { model } = await fetch(store, { cacheDirectory });
      assert.ok(model.fromCache);
      const installed = statSync(join(destination, 'model.bin'));
      assert.equal(installed.ino, statSync(cachedFile('model.bin')).ino, 'a hard link to the cached file');
      assert.equal(installed.mode & 0o222, 0, 'read-only');
      // As root (or after a chmod) a write still gets through the link: it reaches the cache too.
      writeFileSync(join(destination, 'model.bin'), 'weights of 6.6.6');
      assert.equal(readFileSync(cachedFile('model.bin'), 'utf8'), 'weights of 6.6.6');
      const reads = store.reads.length;
      const { model: again, agent } = await fetch(store, { cacheDirectory });
      assert.ok(!again.fromCache, 'neither the destination nor the cache is taken as a hit');
      assert.ok(store.reads.length > reads, 'downloaded again');
      assert.ok(agent.lines.some((line) => line.startsWith('WARNING ') && /changed after it was verified/.test(line)));
      assertHolds(destination, v1);
      assert.equal(readFileSync(cachedFile('model.bin'), 'utf8'), 'weights of 1.0.0', 'the cache holds the verified bytes again');
    });

    it('a file touched but unchanged is hashed once, found intact, and not hashed again on the next hit', async () => {
      const store = storeOf('1.0.0', v1);
      await fetch(store, { cacheDirectory });
      const file = cachedFile('model.bin');
      writeFileSync(file, readFileSync(file));
      const rehashed = async () => {
        rmSync(destination, { recursive: true });
        const { model, agent } = await fetch(store, { cacheDirectory });
        assert.ok(model.fromCache);
        return agent.lines.filter((line) => /re-hashing cached model\.bin/.test(line)).length;
      };
      assert.equal(await rehashed(), 1);
      assert.equal(await rehashed(), 0);
    });

    it('a file overwritten with its size and mtime kept (utimes) is caught by its ctime, re-hashed, dropped and downloaded again', async () => {
      const store = storeOf('1.0.0', v1);
      await fetch(store, { cacheDirectory });
      const file = cachedFile('model.bin');
      const before = statSync(file, { bigint: true });
      await new Promise((resolve) => setTimeout(resolve, 20)); // a ctime that can differ
      writeFileSync(file, 'weights of 6.6.6');
      // utimes to the nanosecond, as an attacker would (fs.utimes keeps only microseconds).
      const mtime = `@${before.mtimeNs / 1_000_000_000n}.${String(before.mtimeNs % 1_000_000_000n).padStart(9, '0')}`;
      assert.equal(spawnSync('touch', ['-m', '-d', mtime, file]).status, 0);
      const after = statSync(file, { bigint: true });
      assert.equal(after.size, before.size);
      assert.equal(after.mtimeNs, before.mtimeNs, 'size and mtime are as they were');
      assert.notEqual(after.ctimeNs, before.ctimeNs);
      const reads = store.reads.length;
      const { model, agent } = await fetch(store, { cacheDirectory });
      assert.ok(!model.fromCache, 'reported as downloaded, not as a cache hit');
      assert.ok(store.reads.length > reads, 'downloaded again');
      assert.ok(agent.lines.some((line) => line.startsWith('WARNING ') && line.includes('model.bin') && /changed after it was verified/.test(line)));
      assertHolds(destination, v1);
      assert.equal(readFileSync(cachedFile('model.bin'), 'utf8'), 'weights of 1.0.0', 'the cache holds the verified bytes again');
    });
  });
});
