import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteError, SettingError } from '../../tasks/common/errors';
import { createdOf, overlay, planArtifact } from '../../tasks/common/model/ociArtifact';
import { indexTar } from '../../tasks/common/model/tarIndex';
import { modelMountScope, parseModelUri } from '../../tasks/common/oci/mountModel';
import { parseRepository } from '../../tasks/common/oci/reference';
import { entryHeader } from '../../tasks/common/oci/tar';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const layer = (mediaType: string, c: string, annotations?: Record<string, string>) => ({ descriptor: { mediaType, digest: digest(c), size: 10 }, raw: { mediaType, digest: digest(c), size: 10, ...(annotations ? { annotations } : {}) } });

function plan(config: string, layers: ReturnType<typeof layer>[], extra: Record<string, unknown> = {}, modelPathInImage?: string) {
  return planArtifact({ layers: layers.map((l) => l.raw), ...extra }, layers.map((l) => l.descriptor), config, 'reg/models/churn@x', modelPathInImage);
}

describe('OCI model artifacts', () => {
  it('a ModelPack: weight layers only, raw by their filepath; one tar folder is the root', () => {
    const mixed = plan('application/vnd.cncf.model.config.v1+json', [
      layer('application/vnd.cncf.model.weight.v1.raw', 'a', { 'org.cncf.model.filepath': './model.bin' }),
      layer('application/vnd.cncf.model.weight.v1.tar', 'b', { 'org.cncf.model.filepath': 'tokenizer/' }),
      layer('application/vnd.cncf.model.doc.v1.tar', 'c', { 'org.cncf.model.filepath': 'README.md' }),
    ]);
    assert.equal(mixed.kind, 'modelpack');
    assert.deepEqual(mixed.layers.map((l) => [l.format, l.path]), [['raw', 'model.bin'], ['tar', 'tokenizer']]);
    assert.equal(mixed.root(mixed.layers[1]), '', 'files packed one by one keep their paths');
    const car = plan('other', [layer('application/vnd.cncf.model.weight.v1.tar+gzip', 'd', { 'org.cncf.model.filepath': '/models/churn' })], { artifactType: 'application/vnd.cncf.model.manifest.v1+json' });
    assert.equal(car.root(car.layers[0]), 'models/churn');
  });

  it('refuses a raw layer without its path, a layer it cannot unpack, a plain image without a folder and an unknown artifact', () => {
    const config = 'application/vnd.cncf.model.config.v1+json';
    assert.throws(() => plan(config, [layer('application/vnd.cncf.model.weight.v1.raw', 'a')]), (e: unknown) => e instanceof RemoteError && /org\.cncf\.model\.filepath/.test(e.message));
    assert.throws(() => plan(config, [layer('application/vnd.cncf.model.weight.v1.tar+zstd', 'a')]), (e: unknown) => e instanceof RemoteError && e.key === 'OciModelLayerUnsupported');
    assert.throws(() => plan(config, [layer('application/vnd.cncf.model.doc.v1.tar', 'a')]), (e: unknown) => e instanceof RemoteError && e.key === 'OciArtifactHasNoModel');
    assert.throws(() => plan('application/vnd.oci.image.config.v1+json', [layer('application/vnd.oci.image.layer.v1.tar', 'a')]), (e: unknown) => e instanceof SettingError && e.setting === 'modelPathInImage');
    assert.throws(() => plan('application/vnd.example.config+json', [layer('application/octet-stream', 'a')]), (e: unknown) => e instanceof RemoteError && e.key === 'OciArtifactUnsupported');
    assert.throws(() => planArtifact({ layers: [{ annotations: { a: 1 } }] }, [layer('x', 'a').descriptor], 'application/vnd.cncf.model.config.v1+json', 'img'), /annotations are not a map of strings/);
  });

  it('a ModelKit: its model and model-part layers; an image: every layer, Docker gzip included', () => {
    const kit = plan('application/vnd.kitops.modelkit.config.v1+json', [layer('application/vnd.kitops.modelkit.model.v1.tar+gzip', 'a'), layer('application/vnd.kitops.modelkit.modelpart.v1.tar', 'b'), layer('application/vnd.kitops.modelkit.code.v1.tar', 'c')]);
    assert.deepEqual(kit.layers.map((l) => l.format), ['tar+gzip', 'tar']);
    const image = plan('application/vnd.docker.container.image.v1+json', [layer('application/vnd.docker.image.rootfs.diff.tar.gzip', 'a'), layer('application/vnd.oci.image.layer.v1.tar', 'b')], {}, 'models/churn');
    assert.deepEqual(image.layers.map((l) => l.format), ['tar+gzip', 'tar']);
  });

  it('overlays image layers: later files win, whiteouts and opaque folders remove', () => {
    const merged = overlay([
      { layer: 1, entries: [{ path: 'm/a', type: 'file' }, { path: 'm/b', type: 'file' }, { path: 'm/sub/c', type: 'file' }, { path: 'x', type: 'file' }] },
      { layer: 2, entries: [{ path: 'm/.wh.b', type: 'file' }, { path: 'm/sub/.wh..wh..opq', type: 'file' }, { path: 'm/sub/d', type: 'file' }, { path: 'm/a', type: 'file' }] },
    ]);
    assert.deepEqual([...merged].map(([path, { layer }]) => [path, layer]).sort(), [['m/a', 2], ['m/sub/d', 2], ['x', 1]]);
  });

  it('reads the creation time from the annotation, else the config', () => {
    assert.equal(createdOf({ 'org.opencontainers.image.created': '2026-01-02T00:00:00Z' }, { created: '2020-01-01T00:00:00Z' })?.toISOString(), '2026-01-02T00:00:00.000Z');
    assert.equal(createdOf({}, { descriptor: { createdAt: '2026-03-01T00:00:00Z' } })?.toISOString(), '2026-03-01T00:00:00.000Z');
    assert.equal(createdOf({ 'org.opencontainers.image.created': 'yesterday' }, {}), undefined);
  });

  it('indexes a tar with PAX long names and refuses a bad checksum', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tar-index-'));
    try {
      const long = `models/${'deep/'.repeat(30)}weights.bin`;
      const data = Buffer.from('weights');
      const tar = Buffer.concat([entryHeader({ path: long, type: 'file', mode: 0o644, size: data.length }, 0), data, Buffer.alloc(512 - data.length), Buffer.alloc(1024)]);
      writeFileSync(join(dir, 'a.tar'), tar);
      const entries = await indexTar(join(dir, 'a.tar'), 'layer');
      assert.deepEqual(entries.map((e) => [e.path, e.type, e.size]), [[long, 'file', data.length]]);
      assert.equal(tar.subarray(entries[0].offset, entries[0].offset + data.length).toString(), 'weights');
      tar[0] ^= 1;
      writeFileSync(join(dir, 'b.tar'), tar);
      await assert.rejects(indexTar(join(dir, 'b.tar'), 'layer'), /checksum/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses modelUri, and asks for pull scope on a model in the target registry only', () => {
    const uri = `oci://acr.io/models/churn@${digest('e')}`;
    assert.deepEqual(parseModelUri(uri), { registry: 'acr.io', repository: 'models/churn', digest: digest('e') });
    assert.equal(parseModelUri('https://acct.blob.core.windows.net/models/churn/1.0.0/'), undefined);
    assert.equal(parseModelUri('oci://acr.io/models/churn:1.0.0'), undefined);
    assert.equal(modelMountScope(uri, parseRepository('acr.io/churn-app')), 'repository:models/churn:pull');
    assert.equal(modelMountScope(uri, parseRepository('other.io/churn-app')), undefined);
  });
});
