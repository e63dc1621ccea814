import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type Azurite } from '../support/azurite';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { runL0 } from './l0Runner';


describe('FetchLatestModel L0 (MockTestRunner)', function () {
  this.timeout(60_000);
  let azurite: Azurite;
  let work: string;
  const model = randomBytes(300_000);

  before(async () => {
    azurite = await startAzurite();
    const publisher = await new ModelPublisher(azurite.connectionString, 'models').create();
    await publisher.publish('churn/1.0.0/model.bin', randomBytes(10));
    await publisher.publish('churn/1.2.0/model.bin', model);
  });
  after(async () => azurite?.stop());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-l0-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  for (const { handler, nodePath } of handlerNodes()) {
    describe(`under ${handler}`, () => {
      it('succeeds and sets every output variable', async () => {
        const runner = await runL0('FetchLatestModelV1', { connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'models', modelPrefix: 'churn/', destination: join(work, 'model') }, nodePath);
        assert.ok(runner.succeeded, runner.stdout + runner.stderr);
        const outputs = Object.fromEntries([...runner.stdout.matchAll(/##vso\[task\.setvariable variable=(\w+);isOutput=true;[^\]]*\](.*)/g)].map((m) => [m[1], m[2]]));
        assert.deepEqual(Object.keys(outputs).sort(), ['modelDigest', 'modelFiles', 'modelName', 'modelPath', 'modelSize', 'modelUri', 'modelVersion']);
        assert.equal(outputs.modelVersion, '1.2.0');
        assert.equal(outputs.modelDigest, `sha256:${sha256(`${sha256(model)}  model.bin\n`)}`, 'a folder model: the hash of its sha256sum listing');
        assert.equal(outputs.modelPath, join(work, 'model'));
        assert.deepEqual(readdirSync(join(work, 'model')), ['model.bin']);
        assert.match(runner.stdout, /loc_mock_ModelSelected 1\.2\.0/, 'user-facing text goes through tl.loc');
        assert.match(runner.stdout, /##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=loc_mock_SummaryTitleFetch;\]/);
      });

      it('fails on a missing input for the chosen connection type, naming it', async () => {
        const runner = await runL0('FetchLatestModelV1', { connectionType: 'sasUrl', container: 'models', destination: join(work, 'model') }, nodePath);
        assert.ok(runner.failed);
        assert.match(runner.stdout, /##vso\[task\.complete result=Failed;\]loc_mock_InputRequired sasUrl connectionType is 'sasUrl'/);
        assert.deepEqual(readdirSync(work), []);
      });

      it('fails on an out-of-range advanced input before any request', async () => {
        const runner = await runL0('FetchLatestModelV1', { connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'models', concurrency: '500', destination: join(work, 'model') }, nodePath);
        assert.ok(runner.failed);
        assert.match(runner.stdout, /result=Failed;\]loc_mock_InputOutOfRange concurrency 500 1 64/);
      });
    });
  }
});
