/**
 * Bake Model Into Image against the real CNCF distribution registry in its three configurations,
 * with every result judged by skopeo and umoci rather than by our own parser.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bakeModel, type BakeOptions } from '../../tasks/common/oci/bake';
import { MediaType } from '../../tasks/common/oci/mediaTypes';
import { Provenance } from '../../tasks/common/provenance';
import { bakeOptions, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { pushBaseImage, type BaseImageKind } from '../support/registry/baseImages';
import { skopeoInspect, skopeoInspectConfig, skopeoInspectRaw, unpackImage, type Platform } from '../support/registry/imageTools';
import { startRegistry, type RegistryAuth, type TestRegistry } from '../support/registry/registry';

async function checkImage(registry: TestRegistry, options: BakeOptions, digest: string, base: { files: Record<string, string> }, platform?: Platform) {
  const ref = `${options.target.repository}:${options.tags[0]}`;
  const inspected = await skopeoInspect(registry, ref, platform ? { platform } : {});
  const config = await skopeoInspectConfig(registry, ref, platform ? { platform } : {});
  assert.ok(inspected.Env?.includes('MODEL_PATH=/models'));
  assert.ok(inspected.Env?.includes('MODEL_VERSION=1.0.0'));
  assert.ok(inspected.Env?.includes('APP_ENV=production'), 'base env kept');
  assert.equal(inspected.Labels?.[Provenance.modelVersion], '1.0.0');
  assert.ok(config.config.Entrypoint && config.config.Entrypoint.length > 0, 'entrypoint kept');
  for (const tag of options.tags) {
    const raw = await skopeoInspectRaw(registry, `${options.target.repository}:${tag}`);
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`, digest, `tag ${tag} names the output digest`);
  }
  const unpacked = await unpackImage(registry, ref, platform ? { platform } : {});
  try {
    for (const name of ['config.json', 'tokenizer/vocab.txt', 'weights.bin']) {
      assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models', name)).equals(fs.readFileSync(path.join(options.modelPath, name))), `${name} byte-identical`);
    }
    for (const [file, content] of Object.entries(base.files)) assert.equal(fs.readFileSync(path.join(unpacked.rootfs, file), 'utf8'), content, `base file ${file} kept`);
  } finally {
    await unpacked.cleanup();
  }
}

const configurations: { auth: RegistryAuth; kinds: BaseImageKind[] }[] = [
  { auth: 'none', kinds: ['oci', 'docker', 'index'] },
  { auth: 'basic', kinds: ['docker'] },
  { auth: 'token', kinds: ['oci'] },
];

for (const { auth, kinds } of configurations) {
  describe(`Bake against docker-registry (${auth === 'basic' ? 'htpasswd Basic over TLS' : auth === 'token' ? 'token auth' : 'no auth'})`, function () {
    this.timeout(180_000);
    let registry: TestRegistry;
    let root: string;
    let model: string;

    before(async () => {
      registry = await startRegistry({ auth });
      root = tempRoot();
      model = writeModel(root);
    });
    after(async () => {
      await registry?.stop();
      fs.rmSync(root, { recursive: true, force: true });
    });

    for (const kind of kinds) {
      it(`appends the model to a ${kind} base image, checked by skopeo and umoci`, async () => {
        const base = await pushBaseImage(registry, `app-${kind}`, '1', kind);
        const options = bakeOptions(registry, { base: `app-${kind}:1`, target: `baked-${kind}`, modelPath: model, tags: ['v1', 'latest'] });
        const result = await bakeModel(options, recordingContext());
        assert.equal(result.mediaType, kind === 'index' ? MediaType.ociIndex : MediaType.ociManifest);
        assert.equal(result.imageRef, `${registry.host}/baked-${kind}@${result.digest}`);
        assert.equal(result.modelLayerDigests.length, 2, 'weights.bin has its own layer');
        assert.equal(result.baseDigest, base.digest);
        if (kind === 'index') {
          assert.deepEqual(result.platforms, ['linux/amd64', 'linux/arm64']);
          for (const platform of base.platforms) await checkImage(registry, options, result.digest, platform, platform.architecture);
        } else {
          await checkImage(registry, options, result.digest, base);
        }
        const raw = JSON.parse(await skopeoInspectRaw(registry, `baked-${kind}:v1`));
        const manifest = kind === 'index' ? JSON.parse(await skopeoInspectRaw(registry, `baked-${kind}@${raw.manifests[0].digest}`)) : raw;
        assert.equal(manifest.mediaType, MediaType.ociManifest, 'Docker media types are converted, never mixed');
        assert.ok(manifest.layers.every((layer: { mediaType: string }) => layer.mediaType.startsWith('application/vnd.oci.image.layer')));
        assert.equal(manifest.annotations[Provenance.baseName], `${registry.host}/app-${kind}:1`);
        assert.equal(manifest.annotations[Provenance.modelDigest], options.bake.modelDigest);
        assert.match(manifest.annotations[Provenance.baseDigest], /^sha256:/);
      });
    }

    it('gives the same digest for the same inputs, and the second bake uploads less than 1 MiB', async () => {
      await pushBaseImage(registry, 'repro', '1', kinds[0]);
      const options = bakeOptions(registry, { base: 'repro:1', target: 'repro-baked', modelPath: model });
      const first = await bakeModel(options, recordingContext());
      const second = await bakeModel(options, recordingContext());
      assert.equal(second.digest, first.digest);
      assert.ok(first.bytesUploaded! > 70 * MiB, `first bake uploads the model (${first.bytesUploaded})`);
      assert.ok(second.bytesUploaded! < MiB, `second bake uploaded ${second.bytesUploaded} bytes`);
    });
  });
}

describe('Bake: layers, versions and compression', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let root: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot();
    await pushBaseImage(registry, 'app', '1', 'oci');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('gives an unchanged weights file the same layer digest when only small files change between model versions', async () => {
    const v1 = writeModel(root, { version: '1.0.0' });
    const v2 = writeModel(root, { version: '2.0.0' });
    const options = (modelPath: string, version: string) => {
      const base = bakeOptions(registry, { base: 'app:1', target: 'versions', modelPath, tags: [version] });
      return { ...base, bake: { ...base.bake, modelVersion: version, modelDigest: `sha256:${version.replace(/\./g, '').padStart(64, '0')}` } };
    };
    const first = await bakeModel(options(v1, '1.0.0'), recordingContext());
    const second = await bakeModel(options(v2, '2.0.0'), recordingContext());
    assert.notEqual(second.digest, first.digest);
    assert.equal(second.modelLayerDigests[1], first.modelLayerDigests[1], 'weights layer identical: the registry stores it once');
    assert.notEqual(second.modelLayerDigests[0], first.modelLayerDigests[0], 'small-files layer changed');
    // A new model (no memo yet) is uploaded as it is hashed, in one read: there is no digest to ask about first.
    assert.ok(second.bytesUploaded! > 70 * MiB, `the new model was sent whole (${second.bytesUploaded} bytes)`);
  });

  it('writes gzip layers when asked, which umoci unpacks to the same files', async () => {
    const model = writeModel(root, { weightsBytes: 2 * MiB });
    const options = bakeOptions(registry, { base: 'app:1', target: 'gzipped', modelPath: model, compression: 'gzip' });
    const result = await bakeModel(options, recordingContext());
    const manifest = JSON.parse(await skopeoInspectRaw(registry, 'gzipped:v1'));
    assert.equal(manifest.layers.at(-1).mediaType, MediaType.ociLayerGzip);
    assert.equal(manifest.layers.at(-1).digest, result.modelLayerDigests.at(-1));
    const unpacked = await unpackImage(registry, 'gzipped:v1');
    try {
      assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models/weights.bin')).equals(fs.readFileSync(path.join(model, 'weights.bin'))));
    } finally {
      await unpacked.cleanup();
    }
  });

  it('stores long names (PAX), internal symlinks and a single-file model as the tools expect', async () => {
    const folder = fs.mkdtempSync(path.join(root, 'long-'));
    const deep = path.join(folder, 'a-very-long-directory-name-for-the-tokenizer-files', 'and-another-level-of-nesting-that-is-long');
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'special-tokens-map-with-a-long-file-name.json'), '{}');
    fs.writeFileSync(path.join(folder, 'model.onnx'), 'onnx');
    fs.symlinkSync('model.onnx', path.join(folder, 'current.onnx'));
    await bakeModel(bakeOptions(registry, { base: 'app:1', target: 'long', modelPath: folder, bake: { ...bakeOptions(registry, { base: 'app:1', target: 'x' }).bake, modelDirectory: '/opt/ml/model' } }), recordingContext());
    await bakeModel(bakeOptions(registry, { base: 'app:1', target: 'single', modelPath: path.join(folder, 'model.onnx') }), recordingContext());
    const long = await unpackImage(registry, 'long:v1');
    const single = await unpackImage(registry, 'single:v1');
    try {
      const longPath = path.relative(folder, path.join(deep, 'special-tokens-map-with-a-long-file-name.json'));
      assert.ok(Buffer.byteLength(`opt/ml/model/${longPath}`) > 100);
      assert.equal(fs.readFileSync(path.join(long.rootfs, 'opt/ml/model', longPath), 'utf8'), '{}');
      assert.equal(fs.readlinkSync(path.join(long.rootfs, 'opt/ml/model/current.onnx')), 'model.onnx');
      assert.equal(fs.readFileSync(path.join(single.rootfs, 'models/model.onnx'), 'utf8'), 'onnx');
      assert.equal((fs.statSync(path.join(single.rootfs, 'models/model.onnx')).mode & 0o777).toString(8), '644');
    } finally {
      await long.cleanup();
      await single.cleanup();
    }
  });
});
