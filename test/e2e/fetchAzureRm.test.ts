import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzureStandIns, type AzureStandIns } from '../support/azureStandIns';
import { startAzurite, type Azurite } from '../support/azurite';
import { endpointEnv } from '../support/fakeAzureEndpoint';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';
import { createTestCa } from '../support/tls';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');

/**
 * The Azure Resource Manager path end to end: the bundled task reads an AzureRM service connection,
 * gets an Entra token (secret, certificate, workload identity federation, managed identity) from a
 * local token endpoint, looks the storage account up through a local ARM, and downloads from Azurite
 * over HTTPS with OAuth, as from a real account.
 */
describe('FetchLatestModel e2e through an Azure Resource Manager service connection', function () {
  this.timeout(120_000);
  let work: string;
  let azurite: Azurite;
  let azure: AzureStandIns;
  let caBundle: string;
  const model = randomBytes(3 * 1024 * 1024);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fetch-arm-'));
    const location = join(work, 'azurite');
    // Publish over plain HTTP with the account key, then serve the same data over HTTPS with OAuth.
    const plain = await startAzurite({ location });
    await (await new ModelPublisher(plain.connectionString, 'models').create()).publish('churn/3.1.0/model.onnx', model);
    await plain.stop();
    const storageCa = createTestCa(join(work, 'storage-ca'));
    azurite = await startAzurite({ location, https: { cert: storageCa.cert, key: storageCa.key }, oauth: true });
    azure = await startAzureStandIns(join(work, 'azure'), { accounts: [{ name: 'otherstore' }, { name: 'modelstore', blobEndpoint: `${azurite.blobEndpoint}/` }] });
    caBundle = join(work, 'ca-bundle.pem');
    writeFileSync(caBundle, readFileSync(azure.ca.caCert, 'utf8') + readFileSync(storageCa.caCert, 'utf8'));
  });
  after(async () => {
    await azure?.close();
    await azurite?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  for (const scheme of ['secret', 'certificate', 'federated', 'managedIdentity'] as const) {
    it(`downloads with a ${scheme} service connection and leaks no credential`, async () => {
      const connection = azure.connections[scheme];
      const destination = join(work, `model-${scheme}`);
      const run = await runTask({
        taskDir,
        inputs: { connectionType: 'azureResourceManager', azureSubscription: connection.id, storageAccount: 'modelstore', container: 'models', modelPrefix: 'churn/', destination },
        env: { ...azure.processEnv, ...azure.pipelineEnv, ...endpointEnv(connection), NODE_EXTRA_CA_CERTS: caBundle },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '3.1.0');
      assert.equal(run.outputs.modelDigest, `sha256:${sha256(`${sha256(model)}  model.onnx\n`)}`);
      assert.ok(readFileSync(join(destination, 'model.onnx')).equals(model));
      assert.ok(run.outputs.modelUri.startsWith(`${azurite.blobEndpoint}/models/churn/3.1.0/`));
      const keyLines = azure.certificate.pem.split('-----BEGIN PRIVATE KEY-----')[1].split('\n').filter((line) => line.length > 40);
      assertNoSecrets(run, { 'client secret': azure.clientSecret, 'System.AccessToken': azure.systemAccessToken, ...Object.fromEntries(keyLines.map((line, i) => [`private key line ${i}`, line])) });
    });
  }

  it('names the storageAccount input and lists the accounts when the account is not in the subscription', async () => {
    const connection = azure.connections.secret;
    const run = await runTask({
      taskDir,
      inputs: { connectionType: 'azureResourceManager', azureSubscription: connection.id, storageAccount: 'nosuchstore', container: 'models', destination: join(work, 'none') },
      env: { ...azure.processEnv, ...endpointEnv(connection), NODE_EXTRA_CA_CERTS: caBundle },
    });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message, /nosuchstore/);
    assert.match(run.result.message, /modelstore/);
    assertNoSecrets(run, { 'client secret': azure.clientSecret });
  });

  it('fails clearly when the service principal secret is wrong, without showing it', async () => {
    const connection = { ...azure.connections.secret, auth: { ...azure.connections.secret.auth, serviceprincipalkey: 'Wrong~Secret.0123456789abcdef' } };
    const run = await runTask({
      taskDir,
      inputs: { connectionType: 'azureResourceManager', azureSubscription: connection.id, storageAccount: 'modelstore', container: 'models', destination: join(work, 'none') },
      env: { ...azure.processEnv, ...endpointEnv(connection), NODE_EXTRA_CA_CERTS: caBundle },
    });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message, /secret/i);
    assertNoSecrets(run, { 'wrong secret': 'Wrong~Secret.0123456789abcdef', 'client secret': azure.clientSecret });
  });
});
