import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { MiB, tempRoot, writeModel } from '../support/bakeHarness';
import { handlerNodes } from '../support/node24';
import { pushBaseImage } from '../support/registry/baseImages';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { runL0 } from './l0Runner';


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
        const runner = await runL0('BakeModelIntoImageV1', { baseImage: `${registry.host}/app:1`, image: `${registry.host}/app-model`, tags: 'l0', modelPath: model, allowInsecureRegistry: 'true' }, nodePath);
        assert.ok(runner.succeeded, runner.stdout + runner.stderr);
        const outputs = Object.fromEntries([...runner.stdout.matchAll(/##vso\[task\.setvariable variable=(\w+);isOutput=true;[^\]]*\](.*)/g)].map((m) => [m[1], m[2]]));
        assert.deepEqual(Object.keys(outputs).sort(), ['bytesReused', 'bytesUploaded', 'imageDigest', 'imageRef', 'imageTags', 'modelLayerDigests', 'provenanceDigest', 'signatureDigest']);
        assert.equal(outputs.imageRef, `${registry.host}/app-model@${outputs.imageDigest}`);
        assert.match(outputs.provenanceDigest, /^sha256:[a-f0-9]{64}$/, 'provenance is on by default');
        assert.equal(outputs.signatureDigest, '', 'and unsigned unless a signing key is chosen');
        assert.match(runner.stdout, /loc_mock_BakeSucceeded/, 'user-facing text goes through tl.loc');
        assert.match(runner.stdout, /##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=loc_mock_SummaryTitleBake;\]/);
      });

      it('fails on a relative model directory, naming the input', async () => {
        const runner = await runL0('BakeModelIntoImageV1', { baseImage: `${registry.host}/app:1`, modelPath: model, modelDirectory: 'models' }, nodePath);
        assert.ok(runner.failed);
        assert.match(runner.stdout, /result=Failed;\]loc_mock_InputInvalid modelDirectory models/);
      });
    });
  }
});
