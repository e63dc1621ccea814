import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { MockTestRunner } from 'azure-pipelines-task-lib/mock-test';
import { MiB, tempRoot, writeModel } from '../support/bakeHarness';
import { handlerNodes } from '../support/node24';
import { pushBaseImage } from '../support/registry/baseImages';
import { startRegistry, type TestRegistry } from '../support/registry/registry';

const scenario = join(__dirname, 'taskScenario.js');
const taskJson = join(__dirname, '..', '..', 'dist', 'l0', 'BakeModelIntoImageV1', 'task.json');

async function runL0(inputs: Record<string, string>, nodePath: string): Promise<MockTestRunner> {
  process.env.L0_TASK = 'BakeModelIntoImageV1';
  process.env.L0_INPUTS = JSON.stringify(inputs);
  try {
    const runner = new MockTestRunner(scenario, taskJson);
    runner.nodePath = nodePath;
    await runner.runAsync();
    assert.ok(runner.stdout.length < 1024 * 1024, 'task output stays under 1 MiB');
    return runner;
  } finally {
    delete process.env.L0_INPUTS;
    delete process.env.L0_TASK;
  }
}

describe('BakeModelIntoImage L0 (MockTestRunner)', function () {
  this.timeout(60_000);
  let registry: TestRegistry;
  let root: string;
  let model: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot('bake-l0-');
    model = writeModel(root, { weightsBytes: MiB });
    await pushBaseImage(registry, 'app', '1', 'oci');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const { handler, nodePath } of handlerNodes()) {
    describe(`under ${handler}`, () => {
      it('succeeds and sets every output variable', async () => {
        const runner = await runL0({ baseImage: `${registry.host}/app:1`, image: `${registry.host}/app-model`, tags: 'l0', modelPath: model, allowInsecureRegistry: 'true' }, nodePath);
        assert.ok(runner.succeeded, runner.stdout + runner.stderr);
        const outputs = Object.fromEntries([...runner.stdout.matchAll(/##vso\[task\.setvariable variable=(\w+);isOutput=true;[^\]]*\](.*)/g)].map((m) => [m[1], m[2]]));
        assert.deepEqual(Object.keys(outputs).sort(), ['bytesReused', 'bytesUploaded', 'imageDigest', 'imageRef', 'imageTags', 'modelLayerDigests']);
        assert.equal(outputs.imageRef, `${registry.host}/app-model@${outputs.imageDigest}`);
        assert.match(runner.stdout, /loc_mock_BakeSucceeded/, 'user-facing text goes through tl.loc');
        assert.match(runner.stdout, /##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=loc_mock_SummaryTitleBake;\]/);
      });

      it('fails on a relative model directory, naming the input', async () => {
        const runner = await runL0({ baseImage: `${registry.host}/app:1`, modelPath: model, modelDirectory: 'models' }, nodePath);
        assert.ok(runner.failed);
        assert.match(runner.stdout, /result=Failed;\]loc_mock_InputInvalid modelDirectory models/);
      });
    });
  }
});
