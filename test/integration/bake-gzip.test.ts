/**
 * Bake with `compression: gzip` against the real docker-registry: each new layer is tarred,
 * gzipped, hashed twice (the gzip's digest, the tar's diffId) and uploaded in one read of the model
 * files, across cut connections, a 5xx and a session the registry forgot; skopeo and umoci judge the
 * image, and a separate pass over the files gives the digests it must have. A re-bake takes the
 * gzip layers from the memo.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bakeModel, type BakeOptions } from '../../tasks/common/oci/bake';
import { MediaType } from '../../tasks/common/oci/mediaTypes';
import { bakeOptions, layerDigestsOf, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { bytesReadUnder } from '../support/fileReads';
import { startHttpFaultProxy } from '../support/httpFaultProxy';
import { pushBaseImage } from '../support/registry/baseImages';
import { skopeoInspect, skopeoInspectConfig, skopeoInspectRaw, unpackImage } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { startTcpProxy } from '../support/tcpProxy';

const digestOf = (seed: number) => `sha256:${seed.toString(16).padStart(64, 'c')}`;

/** Every file under a folder, by relative path. */
function filesUnder(folder: string, prefix = ''): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const entry of fs.readdirSync(path.join(folder, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    if (entry.isDirectory()) for (const [name, bytes] of filesUnder(folder, relative)) files.set(name, bytes);
    else files.set(relative, fs.readFileSync(path.join(folder, relative)));
  }
  return files;
}

const modelBytes = (folder: string) => [...filesUnder(folder).values()].reduce((sum, bytes) => sum + bytes.length, 0);

describe('Bake with gzip: one read of the model', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let root: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot('bake-gzip-');
    await pushBaseImage(registry, 'app', '1', 'oci');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** A model of several files: incompressible weights, and text that gzip shrinks a lot. */
  function multiFileModel(seed: number, weightsBytes: number): string {
    const model = writeModel(root, { weightsBytes, seed });
    fs.writeFileSync(path.join(model, 'tokenizer', 'merges.txt'), 'the quick brown fox jumps\n'.repeat(100_000));
    return model;
  }

  const options = (target: string, modelPath: string, seed: number, chunkSize = 16 * MiB, host?: string): BakeOptions => {
    const base = bakeOptions(registry, { base: 'app:1', target, modelPath, compression: 'gzip', ...(host ? { host } : {}) });
    return { ...base, registry: { ...base.registry, chunkSize }, bake: { ...base.bake, modelDigest: digestOf(seed) } };
  };

  /** skopeo and umoci on the pushed image: gzip layers with the digests, sizes and diffIds a separate pass gives, holding the model byte for byte. */
  async function assertImage(ref: string, model: string, modelLayerDigests: readonly string[]): Promise<void> {
    const expected = await layerDigestsOf(model, 'gzip');
    assert.deepEqual(modelLayerDigests, expected.map((layer) => layer.digest), 'the gzip digests of a separate pass');
    const manifest = JSON.parse(await skopeoInspectRaw(registry, ref)) as { layers: { mediaType: string; digest: string; size: number }[] };
    const layers = manifest.layers.slice(-expected.length);
    assert.deepEqual(layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })), expected.map(({ digest, size }) => ({ mediaType: MediaType.ociLayerGzip, digest, size })));
    const config = await skopeoInspectConfig(registry, ref);
    assert.deepEqual(config.rootfs.diff_ids.slice(-expected.length), expected.map((layer) => layer.diffId), 'the diffIds are the tars\' digests');
    assert.deepEqual((await skopeoInspect(registry, ref)).Layers.slice(-expected.length), expected.map((layer) => layer.digest));
    const unpacked = await unpackImage(registry, ref);
    try {
      for (const [name, bytes] of filesUnder(model)) assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models', name)).equals(bytes), `${name} unpacks byte-identical`);
    } finally {
      await unpacked.cleanup();
    }
  }

  it('tars, gzips, hashes and uploads a multi-file model in one read of its files, and a re-bake takes the gzip layers from the memo', async () => {
    const model = multiFileModel(21, 70 * MiB);
    const context = recordingContext();
    const { result, bytes } = await bytesReadUnder(model, () => bakeModel(options('multi', model, 21), context));
    assert.equal(bytes, modelBytes(model), 'every byte of the model read once');
    assert.equal(result.modelLayerDigests.length, 2, 'the weights in a layer of their own, the small files in another');
    assert.ok(context.lines.some((line) => /a new model layer as it is compressed .* hashed on the way/.test(line)), 'the layers were hashed as they were uploaded');
    await assertImage('multi:v1', model, result.modelLayerDigests);

    const again = recordingContext();
    const rebake = await bytesReadUnder(model, () => bakeModel({ ...options('multi', model, 21), tags: ['v2'] }, again));
    assert.ok(again.lines.some((line) => /was baked before: the memo .* names its 2 model layer\(s\)/.test(line)), again.lines.join('\n'));
    assert.deepEqual(rebake.result.modelLayerDigests, result.modelLayerDigests);
    assert.ok(rebake.result.bytesUploaded < MiB, `the re-bake uploaded ${rebake.result.bytesUploaded} bytes`);
    assert.ok(rebake.bytes < 256 * 1024, `the re-bake read ${rebake.bytes} bytes of the model`);
  });

  it('starts a layer again over connections cut mid-upload (the registry drops a session whose PATCH was cut), compressing it again from its first byte', async () => {
    const model = multiFileModel(22, 24 * MiB);
    const proxy = await startTcpProxy({ targetPort: Number(registry.host.split(':')[1]), cut: { direction: 'upstream', afterBytes: (n) => 6 * MiB + n * 7919, maxCuts: 3 } });
    try {
      const context = recordingContext();
      const { result, bytes } = await bytesReadUnder(model, () => bakeModel(options('cut', model, 22, 4 * MiB, `127.0.0.1:${proxy.port}`), context));
      assert.equal(proxy.cuts, 3, 'three connections were cut');
      const restarts = context.lines.filter((line) => /the registry holds none of a new model layer: the upload starts again from its first byte/.test(line));
      assert.equal(restarts.length, 3, context.lines.join('\n'));
      assert.ok(bytes > modelBytes(model), `the model was read again from its first byte: ${bytes} bytes`);
      await assertImage('cut:v1', model, result.modelLayerDigests);
    } finally {
      await proxy.close();
    }
  });

  it('resumes after 503s to PATCHes from the chunk held in memory, at the registry\'s Range, reading the model once', async () => {
    const model = multiFileModel(23, 24 * MiB);
    let patches = 0;
    const proxy = await startHttpFaultProxy({ targetPort: Number(registry.host.split(':')[1]), fault: (request) => (request.method === 'PATCH' && (++patches === 2 || patches === 5) ? 503 : undefined) });
    try {
      const context = recordingContext();
      const { result, bytes } = await bytesReadUnder(model, () => bakeModel(options('flaky', model, 23, 4 * MiB, `127.0.0.1:${proxy.port}`), context));
      assert.equal(proxy.faults, 2, 'two PATCHes were answered 503');
      const resumed = context.lines.filter((line) => /the registry holds (\d+) bytes of a new model layer: the upload goes on from there/.test(line));
      assert.deepEqual(resumed.map((line) => Number(/holds (\d+) bytes/.exec(line)?.[1])), [4 * MiB, 12 * MiB], context.lines.join('\n'));
      assert.equal(bytes, modelBytes(model), 'the chunks were resent from memory, and the model read once');
      await assertImage('flaky:v1', model, result.modelLayerDigests);
    } finally {
      await proxy.close();
    }
  });
});
