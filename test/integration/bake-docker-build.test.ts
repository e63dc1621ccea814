/**
 * dockerBuild mode with the real daemonless builder: buildah bud (chroot isolation, vfs storage)
 * builds the user's Dockerfile with the model staged into the context, then pushes to the registry.
 * There is no Docker engine here, so this also proves the fallback.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerBuild, type DockerBuildOptions } from '../../tasks/common/dockerfile/dockerBuild';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { BAKE_SETTINGS } from '../../tasks/common/pipeline/bakeInputs';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { tagSchemaReferrers } from '../support/attestChecks';
import { Provenance } from '../../tasks/common/provenance';
import { bakeOptions, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { pushBaseImage } from '../support/registry/baseImages';
import { skopeoInspect, unpackImage } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';

describe('Bake dockerBuild mode (buildah bud, no Docker engine)', function () {
  this.timeout(300_000);
  let registry: TestRegistry;
  let root: string;
  let model: string;
  let app: string;

  before(async () => {
    registry = await startRegistry({ auth: 'basic' });
    root = tempRoot('bake-build-');
    model = writeModel(root, { weightsBytes: 3 * MiB });
    await pushBaseImage(registry, 'python-base', '1', 'oci');
    app = fs.mkdtempSync(path.join(root, 'app-'));
    fs.writeFileSync(path.join(app, 'score.py'), 'print("scoring")\n');
    fs.writeFileSync(path.join(app, 'Dockerfile'), [`FROM ${registry.host}/python-base:1`, 'ARG MODEL_DIR', 'ARG MODEL_VERSION', 'COPY score.py /app/score.py', 'COPY $MODEL_DIR /models', 'ENV MODEL_PATH=/models MODEL_VERSION=$MODEL_VERSION', ''].join('\n'));
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function options(overrides: Partial<DockerBuildOptions> = {}): DockerBuildOptions {
    const { target, tags, modelPath, bake, registry: settings, timeoutMs } = bakeOptions(registry, { base: 'python-base:1', target: 'built-app', modelPath: model, tags: ['b1', 'latest'] });
    return { target, tags, modelPath, bake, registry: settings, timeoutMs, access: { kind: 'basic', registry: registry.host, username: registry.username!, password: registry.password! }, dockerfile: path.join(app, 'Dockerfile'), buildArguments: {}, ...overrides };
  }

  it('builds the Dockerfile with the model staged, pushes every tag, and cleans the context', async () => {
    const result = await dockerBuild(options({ provenance: { builder: { id: 'BakeModelIntoImage@1', version: '1.2.0' } } }), recordingContext());
    assert.match(result.digest, /^sha256:[a-f0-9]{64}$/);
    const [statement] = await tagSchemaReferrers(registry, 'built-app', result.digest);
    assert.equal(statement.digest, result.attestation?.provenanceDigest, 'the built image gets its provenance too');
    assert.equal(JSON.parse(statement.content.toString('utf8')).subject[0].digest.sha256, result.digest.slice(7));
    for (const tag of ['b1', 'latest']) assert.equal((await skopeoInspect(registry, `built-app:${tag}`)).Digest, result.digest);
    const inspected = await skopeoInspect(registry, 'built-app:b1');
    assert.ok(inspected.Env?.includes('MODEL_VERSION=1.0.0'), 'build args reach the Dockerfile');
    assert.equal(inspected.Labels?.[Provenance.modelVersion], '1.0.0', 'provenance labels are set by the build');
    assert.equal(result.modelLayerDigests.length, 1);
    assert.equal(result.mode, 'dockerBuild');
    assert.equal(result.engine, 'buildah');
    assert.ok(!('bytesUploaded' in result) && !('bytesReused' in result), 'the build engine does not report bytes, so neither do we');
    const unpacked = await unpackImage(registry, 'built-app:b1');
    try {
      assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models/weights.bin')).equals(fs.readFileSync(path.join(model, 'weights.bin'))));
      assert.equal(fs.readFileSync(path.join(unpacked.rootfs, 'app/score.py'), 'utf8'), 'print("scoring")\n');
    } finally {
      await unpacked.cleanup();
    }
    assert.deepEqual(fs.readdirSync(app).sort(), ['Dockerfile', 'score.py'], 'the staged model is removed from the build context');
  });

  it('fails clearly on a broken Dockerfile and still cleans the context', async () => {
    const broken = fs.mkdtempSync(path.join(root, 'broken-'));
    fs.writeFileSync(path.join(broken, 'Dockerfile'), 'FROM scratch\nRUN-THIS-IS-NOT-AN-INSTRUCTION\n');
    await assert.rejects(dockerBuild(options({ dockerfile: path.join(broken, 'Dockerfile') }), recordingContext()), (error: Error) => {
      assert.ok(error instanceof TaskError);
      assert.equal(error.key, 'BuildFailed');
      assert.match(error.message, /^buildah build failed \(exit code \d+\)/);
      return true;
    });
    assert.deepEqual(fs.readdirSync(broken), ['Dockerfile']);
  });

  it('fails on a Dockerfile that does not exist, naming it', async () => {
    await assert.rejects(dockerBuild(options({ dockerfile: path.join(root, 'nope', 'Dockerfile') }), recordingContext()), (error: unknown) => {
      assert.ok(error instanceof SettingError, String(error));
      assert.equal(error.setting, 'dockerfile');
      assert.equal(error.key, 'DockerfileMissing');
      const reported = asInputError(error, BAKE_SETTINGS);
      assert.ok(reported instanceof InputError && reported.input === 'dockerfile');
      assert.match(reported.message, /Input 'dockerfile' is '.*nope\/Dockerfile', which does not exist/);
      return true;
    });
  });
});
