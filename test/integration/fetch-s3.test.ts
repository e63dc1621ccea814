import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntegrityError, RemoteError, TaskError } from '../../tasks/common/errors';
import { fetchLatestModel, type FetchOptions } from '../../tasks/common/model/fetch';
import { s3Credentials, type S3Access } from '../../tasks/common/model/s3Access';
import { openS3Store } from '../../tasks/common/model/s3Store';
import type { StoredObject } from '../../tasks/common/model/store';
import { policyForRetries } from '../../tasks/common/net/retry';
import { fakeAgent } from '../support/fakeAgent';
import { assertHolds,  digestListing,  filesUnder,  publishTestModels,  SELECTION_CASES,  settingFailure,  testFetchOptions  } from '../support/fetchHarness';
import { randomBytes, sha256 } from '../support/modelStore';
import { S3Publisher, startS3, type S3Server } from '../support/s3';
import { startTcpProxy } from '../support/tcpProxy';
import { testServices } from '../support/services';
import { silentProgress } from '../../tasks/common/log';

const MiB = 1024 * 1024;

describe('fetchLatestModel against a local S3 (s3rver)', function () {
  this.timeout(60_000);
  let s3: S3Server;
  let publisher: S3Publisher;
  let work: string;
  const weights = randomBytes(5 * MiB + 17);
  const files: Record<string, Buffer> = {};

  before(async () => {
    s3 = await startS3();
    publisher = await new S3Publisher(s3, 'models').create();
    const publish = async (name: string, data: Buffer, tags?: Record<string, string>, sha256?: null) => {
      files[name] = data;
      await publisher.publish(name, data, { tags, sha256 });
    };
    await publishTestModels(publish, weights);
    await publish('etag/1.0.0/model.bin', randomBytes(70_000), undefined, null);
  });
  after(async () => s3?.stop());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-s3-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  function access(overrides: Partial<S3Access> = {}): S3Access {
    return {
      bucket: 'models',
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: s3Credentials(s3.accessKeyId, s3.secretAccessKey),
      credentialSource: { kind: 'inputs' },
      retry: policyForRetries(2),
      ...overrides,
    };
  }

  async function fetch(overrides: Partial<FetchOptions> = {}, s3Access: S3Access = access()) {
    const agent = fakeAgent({});
    const services = testServices();
    const model = await fetchLatestModel(openS3Store(s3Access, { log: agent.log, ...services }), testFetchOptions(work, overrides), { log: agent.log, progress: silentProgress, ...services });
    return { model, agent };
  }

  const versionFiles = (version: string) => filesUnder(files, `churn/${version}/`);

  for (const [rule, version, includePrereleases] of SELECTION_CASES) {
    it(`${rule.kind}${includePrereleases ? ' with pre-releases' : ''} selects ${version} and installs exactly its files, verified against the sha256 metadata`, async () => {
      const { model } = await fetch({ rule, includePrereleases });
      assert.equal(model.version, version);
      const expected = versionFiles(version);
      assertHolds(model.path, expected);
      assert.equal(model.files, Object.keys(expected).length);
      assert.equal(model.name, 'churn');
      assert.ok(model.verified);
      assert.equal(model.digest, `sha256:${sha256(digestListing(expected))}`);
      assert.equal(model.uri, `s3://models/churn/${version}/`);
    });
  }

  it('tag queries compare values as Azure does: AND, ranges and @container (the bucket)', async () => {
    const { model } = await fetch({ rule: { kind: 'tagQuery', query: `@container = 'models' AND "stage" >= 'p' AND "stage" < 'q'` } });
    assert.equal(model.version, '1.9.3');
    await assert.rejects(fetch({ rule: { kind: 'tagQuery', query: `@container = 'other' AND "stage" = 'production'` } }), (error: unknown) => error instanceof TaskError && error.key === 'NoVersionMatchesTags');
  });

  it('installs a single-object model under its name, with the file hash as digest', async () => {
    const { model } = await fetch({ prefix: 'fraud/' });
    assert.equal(model.version, '2.0.0');
    assert.equal(model.layout, 'file');
    assertHolds(model.path, { 'fraud-2.0.0.onnx': files['fraud/fraud-2.0.0.onnx'] });
    assert.equal(model.digest, `sha256:${sha256(files['fraud/fraud-2.0.0.onnx'])}`);
    assert.equal(model.uri, 's3://models/fraud/fraud-2.0.0.onnx');
  });

  it('downloads with parallel ranged GETs that cover the object exactly once', async () => {
    const before = (await s3.settled()).length;
    await fetch({ rule: { kind: 'pinned', version: '1.10.0' } });
    const ranges = (await s3.settled()).slice(before).filter((request) => request.method === 'GET' && request.path === '/models/churn/1.10.0/model.bin').map((request) => request.range);
    assert.equal(ranges.length, Math.ceil(weights.length / MiB), `one ranged GET per 1 MiB block: ${ranges.join(' ')}`);
    const covered = ranges.map((range) => /^bytes=(\d+)-(\d+)$/.exec(range ?? '')!).map(([, start, end]) => [Number(start), Number(end)]).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(covered[0][0], 0);
    for (let i = 1; i < covered.length; i++) assert.equal(covered[i][0], covered[i - 1][1] + 1, 'ranges are contiguous');
    assert.equal(covered.at(-1)![1], weights.length - 1);
  });

  it('resumes ranges through connections cut mid-download, and the bytes are right', async () => {
    const proxy = await startTcpProxy({ targetPort: s3.port, cut: { afterBytes: 700 * 1024, maxCuts: 4 } });
    try {
      const { model, agent } = await fetch({ rule: { kind: 'pinned', version: '1.10.0' } }, access({ endpoint: `http://127.0.0.1:${proxy.port}` }));
      assert.ok(proxy.cuts >= 2, `the proxy cut connections several times (${proxy.cuts})`);
      assert.ok(agent.lines.some((line) => /resuming where it stopped/.test(line)));
      assertHolds(model.path, versionFiles('1.10.0'));
    } finally {
      await proxy.close();
    }
  });

  it('verifies a single-part upload without sha256 metadata against its ETag (MD5)', async () => {
    const { model } = await fetch({ prefix: 'etag/' });
    assert.ok(model.verified, 'the ETag served as the published digest');
    assertHolds(model.path, { 'model.bin': files['etag/1.0.0/model.bin'] });
  });

  it('fails a sha256 mismatch and leaves nothing at the destination', async () => {
    await publisher.publish('bad/1.0.0/model.bin', randomBytes(3 * MiB), { sha256: sha256('something else') });
    await assert.rejects(fetch({ prefix: 'bad/' }), (error: unknown) => error instanceof IntegrityError && error.message.includes(sha256('something else')));
    assert.deepEqual(readdirSync(work), []);
  });

  it('lists past the first page of 1000 keys (continuation tokens)', async () => {
    await Promise.all(Array.from({ length: 1001 }, (_, i) => publisher.publish(`paged/page.${i}.txt`, Buffer.from('x'), { sha256: null })));
    await publisher.publish('paged/zz-9.9.9.bin', Buffer.from('model'));
    const { model } = await fetch({ prefix: 'paged/' });
    assert.equal(model.version, '9.9.9');
  });

  it('refuses a ranged read when the object changed since it was listed (If-Match)', async () => {
    const store = openS3Store(access(), { log: fakeAgent({}).log, ...testServices() });
    const objects: StoredObject[] = [];
    for await (const object of store.list('churn/1.2.0/', AbortSignal.timeout(10_000))) objects.push(object);
    await assert.rejects(store.readRange({ ...objects[0], etag: '"0123456789abcdef0123456789abcdef"' }, 0, 10, AbortSignal.timeout(10_000)), (error: unknown) => error instanceof TaskError && error.key === 'ObjectChanged');
  });

  describe('bad credentials and missing things', () => {
    it('a wrong secret key names awsSecretAccessKey (SignatureDoesNotMatch) and never shows the key', async () => {
      const wrong = randomBytes(30).toString('base64');
      const refused = settingFailure({ setting: 'storeCredential', key: 'S3SignatureRejected', run: 's3Keys', input: 'awsSecretAccessKey', message: /SignatureDoesNotMatch.*input 'awsSecretAccessKey'/ });
      await assert.rejects(fetch({}, access({ credentials: s3Credentials(s3.accessKeyId, wrong) })), (error: unknown) => {
        assert.ok(!String(error).includes(wrong) && !String(error).includes(s3.secretAccessKey));
        return refused(error);
      });
      assert.deepEqual(readdirSync(work), []);
    });

    it('an unknown access key id names awsAccessKeyId', async () => {
      await assert.rejects(fetch({}, access({ credentials: s3Credentials('AKIAUNKNOWN000000000', s3.secretAccessKey) })), settingFailure({ setting: 'storeAccessKeyId', key: 'S3AccessKeyRejected', run: 's3Keys', input: 'awsAccessKeyId', message: /input 'awsAccessKeyId' \(InvalidAccessKeyId\)/ }));
    });

    it('a service connection\'s wrong key names the awsCredentials input', async () => {
      const source = { kind: 'serviceConnection' as const, name: 'aws-models' };
      await assert.rejects(fetch({}, access({ credentials: s3Credentials(s3.accessKeyId, 'nope'), credentialSource: source })), settingFailure({ setting: 'storeCredential', key: 'S3SignatureRejected', run: 's3Connection', input: 'awsCredentials', message: /input 'awsCredentials'/ }));
    });

    it('temporary credentials without their session token name awsSessionToken', async () => {
      const strict = await startS3({ sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(24).toString('base64')}` });
      try {
        await new S3Publisher(strict, 'models').create();
        await assert.rejects(fetch({}, access({ endpoint: strict.endpoint, credentials: s3Credentials(strict.accessKeyId, strict.secretAccessKey, 'stale-token') })), settingFailure({ setting: 'storeSessionToken', key: 'S3SessionTokenRejected', run: 's3Keys', input: 'awsSessionToken', message: /input 'awsSessionToken' \(InvalidToken\)/ }));
        const { model } = await fetch({ prefix: '' }, access({ endpoint: strict.endpoint, credentials: s3Credentials(strict.accessKeyId, strict.secretAccessKey, strict.sessionToken) })).catch((error: unknown) => ({ model: error }));
        assert.ok(model instanceof TaskError && model.key === 'NoVersionFound', 'with the right token the bucket is readable (and empty)');
      } finally {
        await strict.stop();
      }
    });

    it('a missing bucket names s3Bucket', async () => {
      await assert.rejects(fetch({}, access({ bucket: 'no-such-bucket' })), settingFailure({ setting: 'storeContainer', key: 'S3BucketNotFound', run: 's3Keys', input: 's3Bucket', message: /^Bucket 'no-such-bucket' was not found .*input 's3Bucket'\)/ }));
      assert.deepEqual(readdirSync(work), []);
    });

    it('an endpoint nobody listens on fails saying it cannot be reached', async () => {
      const proxy = await startTcpProxy({ targetPort: s3.port });
      const port = proxy.port;
      await proxy.close();
      await assert.rejects(fetch({}, access({ endpoint: `http://127.0.0.1:${port}`, retry: policyForRetries(0) })), (error: unknown) => error instanceof RemoteError && error.key === 'S3Unreachable' && /ECONNREFUSED/.test(error.message));
    });
  });
});
