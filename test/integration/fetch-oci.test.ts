/**
 * Source oci against the CNCF distribution registry: ModelPack (raw and tar layers, a modelcar),
 * a KitOps ModelKit and a plain image, chosen by tag (highest, newest, annotations) or pinned by
 * tag or digest, pre-releases skipped unless asked. Inputs are read by the task's own reader.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { IntegrityError, RemoteError, SettingError } from '../../tasks/common/errors';
import { entryHeader } from '../../tasks/common/oci/tar';
import { silentProgress } from '../../tasks/common/log';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { openModelStore } from '../../tasks/common/model/openStore';
import { readFetchInputs } from '../../tasks/common/pipeline/fetchInputs';
import { fakeAgent } from '../support/fakeAgent';
import { randomBytes, sha256 } from '../support/modelStore';
import { tarFiles } from '../support/registry/ociLayout';
import { startHostileFront, type HostileFront } from '../support/registry/hostileFront';
import { pushArtifact } from '../support/registry/pushArtifact';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { testServices } from '../support/services';

const MP = {
  config: 'application/vnd.cncf.model.config.v1+json',
  manifest: 'application/vnd.cncf.model.manifest.v1+json',
  raw: 'application/vnd.cncf.model.weight.v1.raw',
  configRaw: 'application/vnd.cncf.model.weight.config.v1.raw',
  tar: 'application/vnd.cncf.model.weight.v1.tar',
  tarGzip: 'application/vnd.cncf.model.weight.v1.tar+gzip',
  doc: 'application/vnd.cncf.model.doc.v1.tar',
  filepath: 'org.cncf.model.filepath',
};
const text = (size: number) => randomBytes(size).toString('hex');

describe('fetchLatestModel from an OCI registry (docker-registry)', function () {
  this.timeout(60_000);
  let registry: TestRegistry;
  let front: HostileFront;
  let work: string;
  const weights = randomBytes(3 * 1024 * 1024 + 17);
  const settings = Buffer.from('{"threshold":0.7}');
  const vocab = text(500);
  const carWeights = text(40_000);
  const carInfo = '{"name":"churn"}';
  const kitModel = text(3000);
  const imageModel = text(2000);
  const digests: Record<string, string> = {};

  const modelPack = (created: string, layers: { mediaType: string; data: Buffer; annotations?: Record<string, string> }[], annotations: Record<string, string> = {}) => ({
    artifactType: MP.manifest,
    config: { mediaType: MP.config, data: Buffer.from(JSON.stringify({ descriptor: { createdAt: created }, modelfs: { type: 'layers', diffIds: [] } })) },
    layers,
    annotations,
  });

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    digests['1.9.0'] = await pushArtifact(registry, 'models/churn', '1.9.0', modelPack('2026-01-01T00:00:00Z', [
      { mediaType: MP.raw, data: weights, annotations: { [MP.filepath]: 'model.bin' } },
      { mediaType: MP.configRaw, data: settings, annotations: { [MP.filepath]: 'config/settings.json' } },
      { mediaType: MP.tar, data: tarFiles({ 'tokenizer/vocab.txt': { content: vocab } }), annotations: { [MP.filepath]: 'tokenizer' } },
      { mediaType: MP.doc, data: tarFiles({ 'README.md': { content: 'not part of the model' } }), annotations: { [MP.filepath]: 'README.md' } },
    ]));
    // A modelcar: one tar layer whose entries sit under models/churn.
    digests['1.10.0'] = await pushArtifact(registry, 'models/churn', '1.10.0', modelPack('2026-01-02T00:00:00Z', [
      { mediaType: MP.tarGzip, data: gzipSync(tarFiles({ 'models/churn/model.bin': { content: carWeights }, 'models/churn/meta/info.json': { content: carInfo } })), annotations: { [MP.filepath]: 'models/churn' } },
    ], { stage: 'production' }));
    await pushArtifact(registry, 'models/churn', '1.11.0-rc.1', modelPack('2026-01-03T00:00:00Z', [{ mediaType: MP.raw, data: Buffer.from('candidate'), annotations: { [MP.filepath]: 'model.bin' } }], { stage: 'production' }));
    await pushArtifact(registry, 'models/churn', 'latest', modelPack('2026-01-03T00:00:00Z', [{ mediaType: MP.raw, data: Buffer.from('candidate'), annotations: { [MP.filepath]: 'model.bin' } }]));
    await pushArtifact(registry, 'models/candidate', '2.0.0-rc.1', modelPack('2026-01-03T00:00:00Z', [{ mediaType: MP.raw, data: Buffer.from('rc1'), annotations: { [MP.filepath]: 'model.bin' } }]));
    await pushArtifact(registry, 'models/candidate', '2.0.0-rc.2', modelPack('2026-01-04T00:00:00Z', [{ mediaType: MP.raw, data: Buffer.from('rc2'), annotations: { [MP.filepath]: 'model.bin' } }]));
    await pushArtifact(registry, 'models/kit', '1.0.0', {
      config: { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', data: Buffer.from(JSON.stringify({ manifestVersion: '1.0.0', model: { name: 'churn', path: 'models' } })) },
      layers: [
        { mediaType: 'application/vnd.kitops.modelkit.model.v1.tar+gzip', data: gzipSync(tarFiles({ 'models/churn.onnx': { content: kitModel }, 'models/labels/classes.txt': { content: 'yes\nno\n' } })) },
        { mediaType: 'application/vnd.kitops.modelkit.docs.v1.tar', data: tarFiles({ 'README.md': { content: 'docs' } }) },
      ],
    });
    const imageConfig = (layers: Buffer[]) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2026-02-01T00:00:00Z', rootfs: { type: 'layers', diff_ids: layers.map(sha256).map((hex) => `sha256:${hex}`) }, config: {} }));
    const base = tarFiles({ 'app/app.py': { content: 'print(1)' }, 'models/churn/model.bin': { content: 'old weights' }, 'models/churn/stale.txt': { content: 'removed later' } });
    const update = tarFiles({ 'models/churn/model.bin': { content: imageModel }, 'models/churn/.wh.stale.txt': { content: '' } });
    await pushArtifact(registry, 'apps/churn-app', '3.0.0', {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', data: imageConfig([base, update]) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', data: gzipSync(base) }, { mediaType: 'application/vnd.oci.image.layer.v1.tar', data: update }],
    });
    const entry = (path: string, data: Buffer, extra: { type?: 'file' | 'symlink'; linkTarget?: string } = {}) => [entryHeader({ path, type: extra.type ?? 'file', mode: 0o644, size: data.length, ...(extra.linkTarget ? { linkTarget: extra.linkTarget } : {}) }, 0), data, Buffer.alloc((512 - (data.length % 512)) % 512)];
    const tarOf = (...entries: Buffer[][]) => Buffer.concat([...entries.flat(), Buffer.alloc(1024)]);
    const hostile = (name: string, tar: Buffer) => pushArtifact(registry, `hostile/${name}`, '1.0.0', modelPack('2026-01-01T00:00:00Z', [{ mediaType: MP.tar, data: tar, annotations: { [MP.filepath]: 'model' } }]));
    await hostile('escape', tarOf(entry('model/ok.bin', Buffer.from('ok')), entry('model/../../escape.txt', Buffer.from('outside'))));
    await hostile('link', tarOf(entry('model/ok.bin', Buffer.from('ok')), entry('model/passwd', Buffer.alloc(0), { type: 'symlink', linkTarget: '/etc/passwd' })));
    await hostile('tampered', tarOf(entry('model/weights.bin', randomBytes(5000))));
    await pushArtifact(registry, 'hostile/raw', '1.0.0', modelPack('2026-01-01T00:00:00Z', [{ mediaType: MP.raw, data: randomBytes(5000), annotations: { [MP.filepath]: 'model.bin' } }]));
    // Blobs of the tampered repositories come back with one byte changed.
    front = await startHostileFront({
      upstreamPort: Number(registry.host.split(':')[1]),
      decide: (request) => (/^\/v2\/hostile\/(tampered|raw)\/blobs\//.test(request.url ?? '') && request.method === 'GET' ? { kind: 'rewrite', change: (body) => (body.length > 1000 ? Buffer.concat([body.subarray(0, 600), Buffer.from([body[600] ^ 1]), body.subarray(601)]) : body) } : undefined),
    });
  });
  after(async () => {
    await front?.close();
    await registry?.stop();
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-oci-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  async function fetch(inputs: Record<string, string>) {
    const agent = fakeAgent({ source: 'oci', allowInsecureRegistry: 'true', destination: join(work, 'model'), ...inputs }, { variables: { 'Agent.TempDirectory': work } });
    const read = readFetchInputs(agent);
    const services = testServices();
    const store = await openModelStore(read.access, { log: agent.log, progress: silentProgress, ...services, registerSecret: () => undefined });
    try {
      return await fetchLatestModel(store, read.fetch, { log: agent.log, progress: silentProgress, ...services });
    } finally {
      await store.close?.();
    }
  }

  function holds(folder: string): Record<string, string> {
    return Object.fromEntries(readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => [join(e.parentPath, e.name).slice(folder.length + 1), readFileSync(join(e.parentPath, e.name), 'latin1')]));
  }

  const churn = () => ({ ociRepository: `${registry.host}/models/churn` });

  for (const [selection, extra] of [['highestVersion', {}], ['newest', {}], ['tagQuery', { tagQuery: `"stage" = 'production'` }]] as const) {
    it(`${selection} takes 1.10.0, a modelcar whose entries sit under models/churn, and skips the pre-release`, async () => {
      const model = await fetch({ ...churn(), selection, ...extra });
      assert.equal(model.version, '1.10.0');
      assert.deepEqual(holds(model.path), { 'model.bin': carWeights, 'meta/info.json': carInfo });
      assert.equal(model.uri, `oci://${registry.host}/models/churn@${digests['1.10.0']}`);
      assert.equal(model.name, 'churn');
      assert.deepEqual(readdirSync(work).filter((name) => name.startsWith('oci-model-')), [], 'the unpacked layers are gone');
    });

    it(`${selection} with includePrereleases takes 1.11.0-rc.1`, async () => {
      const model = await fetch({ ...churn(), selection, ...extra, includePrereleases: 'true' });
      assert.equal(model.version, '1.11.0-rc.1');
      assert.deepEqual(holds(model.path), { 'model.bin': 'candidate' });
    });
  }

  it('pinned takes a tag: raw layers in parallel, each checked against its digest, and a tar folder; other layers left out', async () => {
    const model = await fetch({ ...churn(), selection: 'pinned', version: '1.9.0' });
    assert.equal(model.version, '1.9.0');
    assert.ok(readFileSync(join(model.path, 'model.bin')).equals(weights));
    assert.ok(readFileSync(join(model.path, 'config/settings.json')).equals(settings));
    assert.equal(readFileSync(join(model.path, 'tokenizer/vocab.txt'), 'utf8'), vocab);
    assert.equal(model.files, 3, 'the doc layer is not part of the model');
    assert.ok(model.verified);
  });

  it('pinned takes a sha256 manifest digest, and a pre-release tag as named', async () => {
    const byDigest = await fetch({ ...churn(), selection: 'pinned', version: digests['1.9.0'] });
    assert.equal(byDigest.version, digests['1.9.0']);
    assert.equal(byDigest.uri, `oci://${registry.host}/models/churn@${digests['1.9.0']}`);
    rmSync(join(work, 'model'), { recursive: true });
    assert.equal((await fetch({ ...churn(), selection: 'pinned', version: '1.11.0-rc.1' })).version, '1.11.0-rc.1');
  });

  for (const selection of ['highestVersion', 'newest'] as const) {
    it(`${selection} with only pre-releases fails on includePrereleases and lists them`, async () => {
      await assert.rejects(fetch({ ociRepository: `${registry.host}/models/candidate`, selection }), (error: unknown) => error instanceof SettingError && error.setting === 'includePrereleases' && /Pre-releases skipped: 2\.0\.0-rc\.2, 2\.0\.0-rc\.1\./.test(error.message));
      assert.deepEqual(readdirSync(work), [], 'nothing written');
    });
  }

  it('a missing pinned tag lists the versions there are', async () => {
    await assert.rejects(fetch({ ...churn(), selection: 'pinned', version: '9.9.9' }), (error: unknown) => error instanceof SettingError && error.setting === 'modelVersion' && /1\.11\.0-rc\.1, 1\.10\.0, 1\.9\.0/.test(error.message));
  });

  it('takes a KitOps ModelKit\'s model layers, under their common folder', async () => {
    const model = await fetch({ ociRepository: `${registry.host}/models/kit` });
    assert.deepEqual(holds(model.path), { 'churn.onnx': kitModel, 'labels/classes.txt': 'yes\nno\n' });
  });

  it('takes the files under modelPathInImage from a plain image, as its layers leave them (later files win, whiteouts remove)', async () => {
    const model = await fetch({ ociRepository: `${registry.host}/apps/churn-app`, modelPathInImage: '/models/churn/' });
    assert.deepEqual(holds(model.path), { 'model.bin': imageModel });
  });

  describe('a hostile registry', () => {
    const nothingInstalled = () => assert.deepEqual(readdirSync(work).filter((name) => !name.startsWith('.')), [], 'nothing installed, no unpacked layer left');

    it('a tar layer whose bytes do not match its digest is refused before any file is used', async () => {
      await assert.rejects(fetch({ ociRepository: `${front.host}/hostile/tampered` }), (error: unknown) => error instanceof IntegrityError && error.key === 'ModelLayerDigestMismatch');
      nothingInstalled();
    });

    it('a raw layer whose bytes do not match its digest is refused', async () => {
      await assert.rejects(fetch({ ociRepository: `${front.host}/hostile/raw` }), (error: unknown) => error instanceof IntegrityError && /sha256/.test(error.message));
      nothingInstalled();
    });

    it('an entry that climbs out of the model is refused, and nothing is written outside', async () => {
      await assert.rejects(fetch({ ociRepository: `${registry.host}/hostile/escape` }), /escape\.txt|\.\./);
      nothingInstalled();
      assert.ok(!readdirSync(join(work, '..')).includes('escape.txt'));
    });

    it('a link inside the model is refused', async () => {
      await assert.rejects(fetch({ ociRepository: `${registry.host}/hostile/link` }), (error: unknown) => error instanceof RemoteError && error.key === 'OciModelLinkUnsupported');
      nothingInstalled();
    });
  });

  it('a plain image without modelPathInImage fails naming that input', async () => {
    await assert.rejects(fetch({ ociRepository: `${registry.host}/apps/churn-app` }), (error: unknown) => error instanceof SettingError && error.setting === 'modelPathInImage');
  });
});
