import { strict as assert } from 'node:assert';
import { Readable } from 'node:stream';
import { serializeImage, type Image } from '../../tasks/common/oci/image';
import type { Layer } from '../../tasks/common/oci/layer';
import { MediaType } from '../../tasks/common/oci/mediaTypes';
import { bakeModelIntoImage, mergeEnv, type ModelBake } from '../../tasks/common/oci/modelImage';
import { Provenance } from '../../tasks/common/provenance';
import { planModelLayers } from '../../tasks/common/oci/modelLayers';
import type { ModelEntry } from '../../tasks/common/oci/modelFiles';

const MiB = 1024 * 1024;
const file = (relativePath: string, size: number): ModelEntry => ({ relativePath, type: 'file', size, executable: false, source: `/src/${relativePath}` });

function fakeLayer(name: string): Layer {
  return { mediaType: MediaType.ociLayer, digest: `sha256:${name.padEnd(64, '0')}`, diffId: `sha256:${name.padEnd(64, '1')}`, size: 10, open: () => Readable.from([]) };
}

const base: Image = {
  config: {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/bin', 'MODEL_PATH=/old'], Entrypoint: ['python'], Cmd: ['app.py'], User: '1000', WorkingDir: '/app', Labels: { team: 'churn' } },
    rootfs: { type: 'layers', diff_ids: ['sha256:base'] },
    history: [{ created_by: 'base' }],
  },
  layers: [fakeLayer('a')],
  annotations: {},
};

const bake: ModelBake = {
  modelDirectory: '/models',
  modelVersion: '1.4.0',
  modelDigest: `sha256:${'c'.repeat(64)}`,
  setModelEnv: true,
  labels: { owner: 'ds-team' },
  pipelineRun: { runUrl: 'https://dev.azure.com/org/proj/_build/results?buildId=7', revision: 'abc123' },
  created: '1970-01-01T00:00:00Z',
  baseName: 'r.io/app:1',
};

describe('model layer plan', () => {
  it('gives each file of 64 MiB or more its own layer and puts the rest in one', () => {
    const plans = planModelLayers([file('config.json', 100), file('weights.bin', 64 * MiB), file('sub', 0), file('tokenizer.json', 64 * MiB - 1)].filter((e) => e.relativePath !== 'sub'), '/models');
    assert.equal(plans.length, 2);
    assert.deepEqual(plans[0].entries.map((e) => e.path), ['models/', 'models/config.json', 'models/tokenizer.json']);
    assert.deepEqual(plans[1].entries.map((e) => e.path), ['models/', 'models/weights.bin']);
  });

  it('lists every parent directory explicitly, sorted, with fixed modes', () => {
    const [plan] = planModelLayers([{ relativePath: 'nested', type: 'directory', size: 0, executable: true }, file('nested/model.onnx', 5)], '/opt/ml/model');
    assert.deepEqual(plan.entries.map((e) => `${e.path} ${e.mode.toString(8)}`), [
      'opt/ 755', 'opt/ml/ 755', 'opt/ml/model/ 755', 'opt/ml/model/nested/ 755', 'opt/ml/model/nested/model.onnx 644',
    ]);
  });

  it('keeps a large file layer identical when only small files change', () => {
    const v1 = planModelLayers([file('config.json', 10), file('weights.bin', 100 * MiB)], '/models');
    const v2 = planModelLayers([file('config.json', 11), file('weights.bin', 100 * MiB)], '/models');
    assert.deepEqual(v1[1], v2[1]);
    assert.notDeepEqual(v1[0], v2[0]);
  });
});

describe('baking a model into an image config', () => {
  const baked = bakeModelIntoImage(base, 'sha256:basedigest', [{ layer: fakeLayer('m'), description: 'model file /models/weights.bin' }], bake);

  it('appends the layer, its diff_id and a history entry', () => {
    assert.equal(baked.layers.length, 2);
    assert.deepEqual(baked.config.rootfs.diff_ids, ['sha256:base', fakeLayer('m').diffId]);
    assert.equal(baked.config.history?.at(-1)?.created_by, 'BakeModelIntoImage@1: model file /models/weights.bin');
    assert.equal(baked.config.created, '1970-01-01T00:00:00Z');
  });

  it('keeps entrypoint, cmd, user and working dir, and replaces model env in place', () => {
    const container = baked.config.config!;
    assert.deepEqual(container.Entrypoint, ['python']);
    assert.deepEqual(container.Cmd, ['app.py']);
    assert.equal(container.User, '1000');
    assert.equal(container.WorkingDir, '/app');
    assert.deepEqual(container.Env, ['PATH=/usr/bin', 'MODEL_PATH=/models', 'MODEL_VERSION=1.4.0', `MODEL_DIGEST=${bake.modelDigest}`]);
  });

  it('labels the model and the pipeline run next to the base labels and user labels', () => {
    const labels = baked.config.config!.Labels!;
    assert.equal(labels.team, 'churn');
    assert.equal(labels.owner, 'ds-team');
    assert.equal(labels[Provenance.modelVersion], '1.4.0');
    assert.equal(labels[Provenance.revision], 'abc123');
  });

  it('annotates the manifest with base name and digest, model and run', () => {
    const manifest = JSON.parse(serializeImage(baked).manifest.bytes.toString());
    assert.equal(manifest.mediaType, MediaType.ociManifest);
    assert.equal(manifest.config.mediaType, MediaType.ociConfig);
    assert.equal(manifest.annotations[Provenance.baseName], 'r.io/app:1');
    assert.equal(manifest.annotations[Provenance.baseDigest], 'sha256:basedigest');
    assert.equal(manifest.annotations[Provenance.modelDigest], bake.modelDigest);
    assert.equal(manifest.annotations[Provenance.pipelineRun], bake.pipelineRun!.runUrl);
  });

  it('leaves the base image value untouched', () => {
    assert.equal(base.layers.length, 1);
    assert.deepEqual(base.config.config!.Env, ['PATH=/usr/bin', 'MODEL_PATH=/old']);
  });

  it('sets no model env when setModelEnv is off', () => {
    const plain = bakeModelIntoImage(base, 'sha256:x', [], { ...bake, setModelEnv: false });
    assert.deepEqual(plain.config.config!.Env, base.config.config!.Env);
  });

  it('serializes the same image to the same digest', () => {
    const again = bakeModelIntoImage(base, 'sha256:basedigest', [{ layer: fakeLayer('m'), description: 'model file /models/weights.bin' }], bake);
    assert.equal(serializeImage(again).manifest.digest, serializeImage(baked).manifest.digest);
  });

  it('merges env keeping order', () => {
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], { B: '3', C: '4' }), ['A=1', 'B=3', 'C=4']);
  });
});
