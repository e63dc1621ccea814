import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntegrityError, TaskError } from '../../tasks/common/errors';
import { openBlobStore, type BlobAccess } from '../../tasks/common/model/blobStore';
import { fetchLatestModel, type FetchOptions } from '../../tasks/common/model/fetch';
import { accountSasUrl, containerSasUrl, startAzurite, type Azurite } from '../support/azurite';
import { fakeAgent } from '../support/fakeAgent';
import { assertHolds,  digestListing,  filesUnder,  publishTestModels,  SELECTION_CASES,  settingFailure,  testFetchOptions  } from '../support/fetchHarness';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { startHttpFaultProxy } from '../support/httpFaultProxy';
import { startTcpProxy } from '../support/tcpProxy';
import { testServices } from '../support/services';
import { testTransport } from '../support/azureTransport';
import { silentProgress } from '../../tasks/common/log';

const MiB = 1024 * 1024;

describe('fetchLatestModel against Azurite', function () {
  this.timeout(60_000);
  let azurite: Azurite;
  let publisher: ModelPublisher;
  let work: string;
  const weights = randomBytes(5 * MiB + 17);
  const files: Record<string, Buffer> = {};

  before(async () => {
    azurite = await startAzurite();
    publisher = await new ModelPublisher(azurite.connectionString, 'models').create();
    const publish = async (name: string, data: Buffer, tags?: Record<string, string>) => {
      files[name] = data;
      await publisher.publish(name, data, { tags });
    };
    await publishTestModels(publish, weights);
  });
  after(async () => azurite?.stop());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-it-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const connectionString = (): BlobAccess => ({ kind: 'connectionString', connectionString: azurite.connectionString, container: 'models' });

  async function fetch(overrides: Partial<FetchOptions> = {}, access: BlobAccess = connectionString()) {
    const agent = fakeAgent({});
    const store = openBlobStore(access, testTransport());
    const model = await fetchLatestModel(store, testFetchOptions(work, overrides), { log: agent.log, progress: silentProgress, ...testServices() });
    return { model, agent };
  }

  function assertNothingLeft() {
    assert.deepEqual(readdirSync(work), [], 'no destination and no staging folder remain');
  }

  for (const [rule, version, includePrereleases] of SELECTION_CASES) {
    it(`${rule.kind}${includePrereleases ? ' with pre-releases' : ''} selects ${version} and installs exactly its files, nested paths included`, async () => {
      const { model } = await fetch({ rule, includePrereleases });
      assert.equal(model.version, version);
      const expected = filesUnder(files, `churn/${version}/`);
      assertHolds(model.path, expected);
      assert.equal(model.files, Object.keys(expected).length);
      assert.equal(model.size, Object.values(expected).reduce((sum, data) => sum + data.length, 0));
      assert.equal(model.layout, 'folder');
      assert.equal(model.name, 'churn');
      assert.ok(model.verified);
      assert.equal(model.digest, `sha256:${sha256(digestListing(expected))}`);
      assert.equal(model.uri, `${azurite.blobEndpoint}/models/churn/${version}/`);
    });
  }

  it('installs a single-blob model under its base name, with the file hash as digest', async () => {
    const { model } = await fetch({ prefix: 'fraud/' });
    assert.equal(model.version, '2.0.0');
    assert.equal(model.layout, 'file');
    assert.equal(model.name, 'fraud');
    assertHolds(model.path, { 'fraud-2.0.0.onnx': files['fraud/fraud-2.0.0.onnx'] });
    assert.equal(model.digest, `sha256:${sha256(files['fraud/fraud-2.0.0.onnx'])}`);
  });

  it('replaces a previous model at the destination', async () => {
    await fetch({ prefix: 'fraud/' });
    const { model } = await fetch({ rule: { kind: 'pinned', version: '1.2.0' } });
    assertHolds(model.path, { 'model.bin': files['churn/1.2.0/model.bin'] });
  });

  it('authenticates with a container SAS URL and with an account SAS URL', async () => {
    const viaContainer = await fetch({}, { kind: 'sasUrl', sasUrl: containerSasUrl(azurite, 'models', { permissions: 'rl' }) });
    assert.equal(viaContainer.model.version, '1.10.0');
    rmSync(join(work, 'model'), { recursive: true });
    const viaAccount = await fetch({}, { kind: 'sasUrl', sasUrl: accountSasUrl(azurite, { permissions: 'rl' }), container: 'models' });
    assert.equal(viaAccount.model.digest, viaContainer.model.digest);
  });

  it('fails an integrity mismatch and leaves nothing at the destination', async () => {
    await publisher.publish('bad/1.0.0/model.bin', randomBytes(3 * MiB), { sha256: sha256('something else') });
    await assert.rejects(fetch({ prefix: 'bad/' }), (error: unknown) => {
      assert.ok(error instanceof IntegrityError);
      assert.match(error.message, /bad\/1\.0\.0\/model\.bin/);
      assert.match(error.message, new RegExp(sha256('something else')));
      return true;
    });
    assertNothingLeft();
  });

  it('fails a Content-MD5 mismatch', async () => {
    await publisher.publish('badmd5/1.0.0/model.bin', randomBytes(1000), { sha256: null, contentMd5: Buffer.alloc(16, 7) });
    await assert.rejects(fetch({ prefix: 'badmd5/' }), /Content-MD5/);
    assertNothingLeft();
  });

  it('reuses the cache when the ETags are unchanged, and not after a re-publish', async () => {
    const cacheDirectory = join(work, 'cache');
    const first = await fetch({ prefix: 'cached/', cacheDirectory }).catch(() => undefined);
    assert.equal(first, undefined, 'nothing published yet');
    await publisher.publish('cached/1.0.0/model.bin', randomBytes(2 * MiB));
    const miss = await fetch({ prefix: 'cached/', cacheDirectory });
    assert.equal(miss.model.fromCache, false);
    const hit = await fetch({ prefix: 'cached/', cacheDirectory });
    assert.equal(hit.model.fromCache, true);
    assert.equal(hit.model.digest, miss.model.digest);
    assert.ok(hit.agent.lines.some((line) => /already holds this verified model/.test(line)), 'the destination holds it: nothing copied');
    const replaced = randomBytes(2 * MiB);
    await publisher.publish('cached/1.0.0/model.bin', replaced);
    const again = await fetch({ prefix: 'cached/', cacheDirectory });
    assert.equal(again.model.fromCache, false);
    assertHolds(again.model.path, { 'model.bin': replaced });
  });

  it('resumes ranges through connections cut mid-download, and the bytes are right', async () => {
    const proxy = await startTcpProxy({ targetPort: azurite.port, cut: { afterBytes: 700 * 1024, maxCuts: 4 } });
    try {
      const viaProxy = azurite.connectionString.replace(`:${azurite.port}/`, `:${proxy.port}/`);
      const { model, agent } = await fetch({ rule: { kind: 'pinned', version: '1.10.0' } }, { kind: 'connectionString', connectionString: viaProxy, container: 'models' });
      assert.ok(proxy.cuts >= 2, `the proxy cut connections several times (${proxy.cuts})`);
      assert.ok(agent.lines.filter((line) => /resuming where it stopped/.test(line)).length >= 1);
      assertHolds(model.path, { 'model.bin': weights, 'tokenizer/vocab/words.txt': files['churn/1.10.0/tokenizer/vocab/words.txt'] });
    } finally {
      await proxy.close();
    }
  });

  it('retries ranged reads the service answers with 500 and 503, and the bytes are right', async () => {
    const proxy = await startHttpFaultProxy({ targetPort: azurite.port, fault: (request, faults) => (request.headers['x-ms-range'] || request.headers.range) && faults < 4 ? (faults % 2 ? 500 : 503) : undefined });
    try {
      const viaProxy = azurite.connectionString.replace(`:${azurite.port}/`, `:${proxy.port}/`);
      const { model } = await fetch({ rule: { kind: 'pinned', version: '1.10.0' } }, { kind: 'connectionString', connectionString: viaProxy, container: 'models' });
      assert.equal(proxy.faults, 4);
      assertHolds(model.path, { 'model.bin': weights, 'tokenizer/vocab/words.txt': files['churn/1.10.0/tokenizer/vocab/words.txt'] });
    } finally {
      await proxy.close();
    }
  });

  it('gives up after the retries on a service that keeps failing, naming the status, with nothing written', async () => {
    const proxy = await startHttpFaultProxy({ targetPort: azurite.port, fault: (request) => (request.headers['x-ms-range'] || request.headers.range ? 503 : undefined) });
    try {
      const viaProxy = azurite.connectionString.replace(`:${azurite.port}/`, `:${proxy.port}/`);
      await assert.rejects(fetch({ rule: { kind: 'pinned', version: '1.10.0' } }, { kind: 'connectionString', connectionString: viaProxy, container: 'models' }), /503/);
      assertNothingLeft();
    } finally {
      await proxy.close();
    }
  });

  describe('bad input and refusals', () => {
    it('an unknown container names the container input', async () => {
      await assert.rejects(fetch({}, { ...connectionString(), container: 'nosuch' } as BlobAccess), settingFailure({ setting: 'storeContainer', key: 'ContainerNotFound', run: 'connectionString', input: 'container', message: /nosuch.*does not exist \(input 'container'\)/ }));
    });

    it('a wrong account key names the connectionString input, never the key', async () => {
      const wrong = azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${Buffer.alloc(64, 1).toString('base64')}`);
      const refused = settingFailure({ setting: 'storeCredential', key: 'StorageAuthorizationFailure', run: 'connectionString', input: 'connectionString', message: /input 'connectionString'/, hides: Buffer.alloc(64, 1).toString('base64') });
      await assert.rejects(fetch({}, { kind: 'connectionString', connectionString: wrong, container: 'models' }), refused);
    });

    it('an expired SAS is refused before any request, naming the expiry', async () => {
      const expired = containerSasUrl(azurite, 'models', { expiresOn: new Date(Date.now() - 60_000), startsOn: new Date(Date.now() - 3_600_000) });
      await assert.rejects(fetch({}, { kind: 'sasUrl', sasUrl: expired }), settingFailure({ setting: 'storeCredential', key: 'SasUrlExpired', run: 'sasUrl', input: 'sasUrl', message: /^Input 'sasUrl' holds a SAS token that expired/, hides: 'sig=' }));
    });

    it('a SAS the service rejects (signed with another key) names the sasUrl input', async () => {
      const forged = containerSasUrl({ ...azurite, accountKey: Buffer.alloc(64, 2).toString('base64') }, 'models');
      await assert.rejects(fetch({}, { kind: 'sasUrl', sasUrl: forged }), settingFailure({ setting: 'storeCredential', key: 'StorageAuthorizationFailure', run: 'sasUrl', input: 'sasUrl', hides: 'sig=' }));
    });

    it('a SAS without list permission explains the permission', async () => {
      await assert.rejects(fetch({}, { kind: 'sasUrl', sasUrl: containerSasUrl(azurite, 'models', { permissions: 'r' }) }), settingFailure({ setting: 'storeCredential', key: 'StoragePermissionDenied', run: 'sasUrl', input: 'sasUrl' }));
    });

    it('a malformed connection string names the input and hides the value', async () => {
      const malformed = { kind: 'connectionString', connectionString: 'AccountName=x;Secret=hunter2', container: 'models' } as const;
      assert.throws(() => openBlobStore(malformed, testTransport()), settingFailure({ setting: 'storeCredential', key: 'ConnectionStringInvalid', run: 'connectionString', input: 'connectionString', message: /^Input 'connectionString' is not a storage connection string/, hides: 'hunter2' }));
    });

    it('the overall timeout fails with a message naming timeoutSeconds, and nothing is written', async () => {
      await assert.rejects(fetch({ timeoutMs: 1 }), (error: unknown) => error instanceof TaskError && error.key === 'DownloadTimedOut' && /0\.001 seconds \(input 'timeoutSeconds'\)/.test(error.message));
      assertNothingLeft();
    });

    it('a destination that is a file is refused', async () => {
      const file = join(work, 'model');
      writeFileSync(file, 'x');
      await assert.rejects(fetch({ destination: file }), settingFailure({ setting: 'destination', key: 'DestinationIsFile', run: 'connectionString', input: 'destination', message: /^Input 'destination' is '.*', which is a file/ }));
    });

    it('a destination that cannot be written is refused', async () => {
      writeFileSync(join(work, 'plain'), 'x');
      await assert.rejects(fetch({ destination: join(work, 'plain', 'model') }), settingFailure({ setting: 'destination', key: 'DestinationNotWritable', run: 'connectionString', input: 'destination', message: /cannot be written \((ENOTDIR|EEXIST)\)/ }));
    });

    it('a pinned version that does not exist lists the versions found', async () => {
      await assert.rejects(fetch({ rule: { kind: 'pinned', version: '9.9.9' } }), settingFailure({ setting: 'modelVersion', key: 'PinnedVersionNotFound', run: 'connectionString', input: 'version', message: /^Input 'version' is '9\.9\.9'.*1\.10\.0, 1\.9\.3, 1\.2\.0/ }));
      assertNothingLeft();
    });

    it('a prefix with no versions lists what is there', async () => {
      await assert.rejects(fetch({ prefix: 'churn/README' }), (error: unknown) => error instanceof TaskError && /churn\/README\.md/.test(error.message));
    });

    it('hostile blob names are refused before anything is written', async () => {
      for (const name of ['evil/1.0.0/ok.bin', 'evil/1.0.0/sub/..%2F..%2Fescape.bin', 'evil/1.0.0/a\\..\\..\\escape.bin']) {
        await publisher.publish(name.replace(/%2F/g, '/'), Buffer.from('x'));
      }
      const names: string[] = [];
      for await (const blob of publisher.container.listBlobsFlat({ prefix: 'evil/' })) names.push(blob.name);
      assert.ok(names.some((name) => name.includes('..')), `Azurite kept a hostile name: ${names.join(', ')}`);
      await assert.rejects(fetch({ prefix: 'evil/' }), (error: unknown) => error instanceof TaskError && error.key === 'UnsafeBlobName');
      assertNothingLeft();
    });
  });
});
