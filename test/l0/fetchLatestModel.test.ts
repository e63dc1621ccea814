import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockTestRunner } from 'azure-pipelines-task-lib/mock-test';
import { startAzurite, type Azurite } from '../support/azurite';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { handlerNodes } from '../support/node24';

const scenario = join(__dirname, 'taskScenario.js');
const taskJson = join(__dirname, '..', '..', 'dist', 'l0', 'FetchLatestModelV1', 'task.json');

/** Runs the task through task-lib's MockTestRunner with the given inputs on the given Node. */
async function runL0(inputs: Record<string, string>, nodePath: string): Promise<MockTestRunner> {
  process.env.L0_TASK = 'FetchLatestModelV1';
  process.env.L0_INPUTS = JSON.stringify(inputs);
  try {
    const runner = new MockTestRunner(scenario, taskJson);
    runner.nodePath = nodePath; // never download a Node
    await runner.runAsync();
    // MockTestRunner misreads a run that printed over 1 MiB; keep the output small and check it too.
    assert.ok(runner.stdout.length < 1024 * 1024, 'task output stays under 1 MiB');
    return runner;
  } finally {
    delete process.env.L0_INPUTS;
    delete process.env.L0_TASK;
  }
}

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
        const runner = await runL0({ connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'models', modelPrefix: 'churn/', destination: join(work, 'model') }, nodePath);
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
        const runner = await runL0({ connectionType: 'sasUrl', container: 'models', destination: join(work, 'model') }, nodePath);
        assert.ok(runner.failed);
        assert.match(runner.stdout, /##vso\[task\.complete result=Failed;\]loc_mock_InputRequired sasUrl connectionType is 'sasUrl'/);
        assert.deepEqual(readdirSync(work), []);
      });

      it('fails on an out-of-range advanced input before any request', async () => {
        const runner = await runL0({ connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'models', concurrency: '500', destination: join(work, 'model') }, nodePath);
        assert.ok(runner.failed);
        assert.match(runner.stdout, /result=Failed;\]loc_mock_InputOutOfRange concurrency 500 1 64/);
      });
    });
  }
});
