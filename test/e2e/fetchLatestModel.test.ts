import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountSasUrl, containerSasUrl, startAzurite, type Azurite } from '../support/azurite';
import { bundleModules, recordLoadsEnv } from '../support/bundleLoads';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const MiB = 1024 * 1024;

describe('FetchLatestModel e2e (the bundle as the agent runs it)', function () {
  this.timeout(120_000);
  let azurite: Azurite;
  let work: string;
  const weights = randomBytes(6 * MiB + 3);
  const config = Buffer.from('{"threshold":0.5}');

  before(async () => {
    azurite = await startAzurite();
    const publisher = await new ModelPublisher(azurite.connectionString, 'models').create();
    await publisher.publish('churn/1.9.0/weights.bin', randomBytes(100));
    await publisher.publish('churn/2.0.0/weights.bin', weights, { tags: { stage: 'production' } });
    await publisher.publish('churn/2.0.0/config/settings.json', config);
    await publisher.publish('churn/2.1.0-rc.1/weights.bin', randomBytes(100), { tags: { stage: 'staging' } });
  });
  after(async () => azurite?.stop());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-e2e-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const secrets = () => ({ 'account key': azurite.accountKey, 'connection string': azurite.connectionString });

  for (const { handler, nodePath } of handlerNodes()) {
    it(`fetches with a connection string from a secret variable under ${handler}, and leaks nothing`, async () => {
      const destination = join(work, 'model');
      const run = await runTask({
        taskDir,
        nodePath,
        inputs: { connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'models', modelPrefix: 'churn/', selection: 'tagQuery', tagQuery: `"stage" = 'production'`, destination },
        secretVariables: { StorageConnectionString: azurite.connectionString },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '2.0.0');
      assert.equal(run.outputs.modelPath, destination);
      assert.equal(run.outputs.modelName, 'churn');
      assert.equal(run.outputs.modelFiles, '2');
      assert.equal(run.outputs.modelSize, String(weights.length + config.length));
      assert.equal(run.outputs.modelUri, `${azurite.blobEndpoint}/models/churn/2.0.0/`);
      const listing = `${sha256(config)}  config/settings.json\n${sha256(weights)}  weights.bin\n`;
      assert.equal(run.outputs.modelDigest, `sha256:${sha256(listing)}`);
      assert.ok(readFileSync(join(destination, 'weights.bin')).equals(weights));
      assert.deepEqual(readdirSync(work).sort(), ['.model.fetch-latest-model', 'model'], 'beside the destination only its install marker, no staging folder');
      assert.ok(run.progress.includes(100), 'the agent progress command reached 100');
      const summary = run.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary');
      assert.ok(summary?.content?.includes('`2.0.0`') && summary.content.includes(run.outputs.modelDigest), 'the run summary names version and digest');
      assert.ok(run.secretsRegistered.includes(azurite.connectionString), 'the connection string is registered as a secret');
      assertNoSecrets(run, secrets());
    });
  }

  it('fetches with a container SAS URL; the signature never shows, not even in modelUri', async () => {
    const sasUrl = containerSasUrl(azurite, 'models', { permissions: 'rl' });
    const run = await runTask({ taskDir, inputs: { connectionType: 'sasUrl', sasUrl, container: 'models', modelPrefix: 'churn/', includePrereleases: 'true', destination: join(work, 'model') } });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.modelVersion, '2.1.0-rc.1', 'the release candidate, as includePrereleases asks');
    assert.ok(!run.outputs.modelUri.includes('?'));
    const signature = new URL(sasUrl).searchParams.get('sig')!;
    assertNoSecrets(run, { 'SAS URL': sasUrl, 'SAS signature': signature, ...secrets() });
  });

  it('loads neither the MLflow store nor @azure/identity for a blob fetch: their lazy chunks stay unread', async () => {
    const record = join(work, 'loads.json');
    const inputs = { connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'models', modelPrefix: 'churn/', destination: join(work, 'model') };
    const run = await runTask({ taskDir, inputs, env: recordLoadsEnv(record) });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    const { loaded, bundled } = bundleModules(taskDir, record);
    const lazy = ['tasks/common/model/openMlflow.ts', 'node_modules/@azure/identity/'];
    for (const module of [...lazy, 'tasks/common/model/blobStore.ts']) assert.ok(bundled.some((m) => m.startsWith(module)), `the bundle holds ${module}`);
    assert.ok(loaded.includes('tasks/common/model/blobStore.ts'), 'the record shows the blob store loaded');
    for (const module of lazy) assert.ok(!loaded.some((m) => m.startsWith(module)), `a blob fetch loaded ${module}`);
  });

  it('fetches with an account SAS URL and a pinned version', async () => {
    const sasUrl = accountSasUrl(azurite, { permissions: 'rl' });
    const run = await runTask({ taskDir, inputs: { connectionType: 'sasUrl', sasUrl, container: 'models', modelPrefix: 'churn/', selection: 'pinned', version: 'v1.9.0', destination: join(work, 'model') } });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.modelVersion, '1.9.0');
    assertNoSecrets(run, { 'SAS URL': sasUrl, 'SAS signature': new URL(sasUrl).searchParams.get('sig')!, ...secrets() });
  });

  const failures: [string, () => Record<string, string>, RegExp][] = [
    ['a wrong account key', () => ({ connectionType: 'connectionString', connectionString: azurite.connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${Buffer.alloc(64, 9).toString('base64')}`) }), /input 'connectionString'.*the key or SAS is wrong/],
    ['an expired SAS', () => ({ connectionType: 'sasUrl', sasUrl: containerSasUrl(azurite, 'models', { startsOn: new Date(Date.now() - 7_200_000), expiresOn: new Date(Date.now() - 3_600_000) }) }), /Input 'sasUrl' holds a SAS token that expired/],
    ['an unknown container', () => ({ connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'nosuch' }), /Container .*nosuch does not exist \(input 'container'\)/],
    ['a malformed tag query', () => ({ connectionType: 'connectionString', connectionString: azurite.connectionString, selection: 'tagQuery', tagQuery: `"stage" == 'x'` }), /Input 'tagQuery' is/],
  ];
  for (const [title, inputs, message] of failures) {
    it(`fails cleanly on ${title}, with nothing written and no secret shown`, async () => {
      const given: Record<string, string> = { container: 'models', modelPrefix: 'churn/', destination: join(work, 'model'), ...inputs() };
      const run = await runTask({ taskDir, inputs: given });
      assert.equal(run.result.status, 'Failed');
      assert.match(run.result.message, message);
      assert.deepEqual(readdirSync(work), []);
      const scanned: Record<string, string> = { ...secrets() };
      if (given.sasUrl) scanned['SAS signature'] = new URL(given.sasUrl).searchParams.get('sig')!;
      if (given.connectionString) scanned['given connection string'] = given.connectionString;
      assertNoSecrets(run, scanned);
    });
  }
});
