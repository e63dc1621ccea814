/**
 * Zero-copy bake against the distribution registry: a ModelPack modelcar (one tar layer of entries
 * under models/churn) in the target registry is mounted into the app image, none of it uploaded and
 * modelPath never read; umoci unpacks the result with the model byte-identical. A model that does
 * not fit the image as it is falls back to the normal bake and says why.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { bakeModel } from '../../tasks/common/oci/bake';
import { bakeOptions, MiB, recordingContext, seeded, tempRoot, writeModel } from '../support/bakeHarness';
import { pushBaseImage } from '../support/registry/baseImages';
import { unpackImage } from '../support/registry/imageTools';
import { sha256 } from '../support/registry/ociLayout';
import { pushArtifact } from '../support/registry/pushArtifact';
import { startRegistry, type TestRegistry } from '../support/registry/registry';

/** A ustar archive with one file per entry (parent folders implied), content as given. */
function tarOf(files: Record<string, Buffer>): Buffer {
  const chunks: Buffer[] = [];
  for (const [name, data] of Object.entries(files)) {
    const header = Buffer.alloc(512);
    header.write(name, 0);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    chunks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  chunks.push(Buffer.alloc(1024));
  return Buffer.concat(chunks);
}

describe('zero-copy bake of an OCI model (docker-registry, umoci)', function () {
  this.timeout(120_000);
  let registry: TestRegistry;
  let root: string;
  const weights = seeded(24 * MiB, 7);
  const info = Buffer.from('{"name":"churn"}');
  const modelcar = tarOf({ 'models/churn/model.bin': weights, 'models/churn/info.json': info });
  const uris: Record<string, string> = {};

  const modelPack = (layer: { mediaType: string; data: Buffer; annotations: Record<string, string> }, diffIds: string[]) => ({
    artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    config: { mediaType: 'application/vnd.cncf.model.config.v1+json', data: Buffer.from(JSON.stringify({ descriptor: { createdAt: '2026-01-01T00:00:00Z' }, modelfs: { type: 'layers', diffIds } })) },
    layers: [layer],
  });

  before(async () => {
    root = tempRoot('bake-zero-copy-');
    registry = await startRegistry({ auth: 'none' });
    await pushBaseImage(registry, 'churn-app', 'app-1', 'oci');
    const tar = { mediaType: 'application/vnd.cncf.model.weight.v1.tar', data: modelcar, annotations: { 'org.cncf.model.filepath': 'models/churn' } };
    uris.tar = `oci://${registry.host}/models/churn@${await pushArtifact(registry, 'models/churn', '1.0.0', modelPack(tar, [sha256(modelcar)]))}`;
    const gzip = { mediaType: 'application/vnd.cncf.model.weight.v1.tar+gzip', data: gzipSync(modelcar, { level: 1 }), annotations: { 'org.cncf.model.filepath': 'models/churn' } };
    uris.gzip = `oci://${registry.host}/models/churn@${await pushArtifact(registry, 'models/churn', '1.1.0', modelPack(gzip, [sha256(modelcar)]))}`;
    uris.gzipNoDiffId = `oci://${registry.host}/models/churn@${await pushArtifact(registry, 'models/churn', '1.2.0', modelPack(gzip, []))}`;
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const kind of ['tar', 'gzip'] as const) {
    it(`mounts a ${kind} modelcar layer: nothing of the model uploaded, modelPath not read, the model byte-identical in the image`, async () => {
      const context = recordingContext();
      const options = bakeOptions(registry, { base: 'churn-app:app-1', target: 'churn-app', tags: [`zero-${kind}`], modelPath: path.join(root, 'no-such-folder'), modelUri: uris[kind] });
      const result = await bakeModel({ ...options, bake: { ...options.bake, modelDirectory: '/models/churn' } }, context);
      assert.ok(result.bytesUploaded < MiB, `uploaded ${result.bytesUploaded} bytes`);
      assert.ok(result.bytesReused >= weights.length, `reused ${result.bytesReused} bytes`);
      assert.ok(context.lines.some((line) => /Zero-copy bake/.test(line)), context.lines.join('\n'));
      const unpacked = await unpackImage(registry, `churn-app:zero-${kind}`);
      try {
        assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models/churn/model.bin')).equals(weights), 'the weights are byte-identical');
        assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models/churn/info.json')).equals(info));
        assert.ok(unpacked.runtimeConfig.process.env?.includes('MODEL_PATH=/models/churn'), 'the env records the model as before');
      } finally {
        await unpacked.cleanup();
      }
    });
  }

  const fallbacks: [string, string, string, RegExp][] = [
    ['a layer under another folder than modelDirectory', 'tar', '/opt/model', /holds entries under 'models\/churn', not under modelDirectory \/opt\/model/],
    ['a gzip layer without its diffId', 'gzipNoDiffId', '/models/churn', /does not list the uncompressed digest/],
    ['a model in another registry', 'other', '/models/churn', /is not in registry/],
  ];
  for (const [index, [title, uri, modelDirectory, reason]] of fallbacks.entries()) {
    it(`falls back to the normal bake for ${title}, and says why`, async () => {
      const context = recordingContext();
      const model = writeModel(root, { weightsBytes: MiB, seed: 100 + index });
      const modelUri = uri === 'other' ? `oci://elsewhere.example/models/churn@sha256:${'c'.repeat(64)}` : uris[uri];
      const options = bakeOptions(registry, { base: 'churn-app:app-1', target: 'churn-app', tags: ['fallback'], modelPath: model, modelUri });
      const result = await bakeModel({ ...options, bake: { ...options.bake, modelDirectory } }, context);
      assert.ok(context.lines.some((line) => reason.test(line)), context.lines.join('\n'));
      assert.ok(result.bytesUploaded >= MiB, 'the model from modelPath was uploaded');
    });
  }
});
