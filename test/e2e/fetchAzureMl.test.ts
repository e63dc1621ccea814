import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AzureMlStandIn, type WorkspaceSpec, startAzureMlStandIn } from '../support/azureMlStandIn';
import { type AzureStandIns, startAzureStandIns, subscriptionId } from '../support/azureStandIns';
import { type Azurite, containerSasUrl, startAzurite } from '../support/azurite';
import { endpointEnv, type EndpointSpec } from '../support/fakeAzureEndpoint';
import { type HostRoutingProxy, startHostRoutingProxy } from '../support/hostRoutingProxy';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';
import { createTestCa } from '../support/tls';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const BLOB_HOST = 'devstoreaccount1.blob.core.windows.net';

/**
 * Source azureMLRegistry end to end, against the Azure ML stand-in (model containers, versions,
 * datastores and their secrets, through ARM with an AzureRM service connection's Entra token) and
 * the datastores' blobs on Azurite. The task builds each datastore's production blob host
 * (devstoreaccount1.blob.core.windows.net) exactly as in Azure; an HTTPS proxy given to the task
 * (HTTPS_PROXY) routes that host to Azurite, which serves it over TLS with OAuth and shared keys.
 */
describe('FetchLatestModel e2e from an Azure Machine Learning workspace', function () {
  this.timeout(120_000);
  let work: string;
  let azurite: Azurite;
  let azure: AzureStandIns;
  let aml: AzureMlStandIn;
  let proxy: HostRoutingProxy;
  let caBundle: string;
  let sasToken: string;
  const blobs = datastoreBlobs();

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fetch-aml-'));
    const location = join(work, 'azurite');
    const plain = await startAzurite({ location });
    for (const [container, files] of Object.entries(blobs)) {
      const publisher = await new ModelPublisher(plain.connectionString, container).create();
      for (const [name, data] of Object.entries(files)) await publisher.publish(name, data);
    }
    sasToken = new URL(containerSasUrl(plain, 'sas-models', { permissions: 'rl' })).search.slice(1);
    await plain.stop();
    const storageCa = createTestCa(join(work, 'storage-ca'), [BLOB_HOST]);
    azurite = await startAzurite({ location, https: { cert: storageCa.cert, key: storageCa.key }, oauth: true });
    azure = await startAzureStandIns(join(work, 'azure'));
    aml = await startAzureMlStandIn({ tls: azure.ca, verifyToken: azure.entra.verifyAccessToken, workspaces: workspaces(azurite.accountKey, sasToken) });
    proxy = await startHostRoutingProxy({ [BLOB_HOST]: { port: azurite.port } });
    caBundle = join(work, 'ca-bundle.pem');
    writeFileSync(caBundle, readFileSync(azure.ca.caCert, 'utf8') + readFileSync(storageCa.caCert, 'utf8'));
  });
  after(async () => {
    await proxy?.close();
    await aml?.close();
    await azure?.close();
    await azurite?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const connection = (): EndpointSpec => ({ ...azure.connections.secret, url: aml.url });
  const secrets = () => ({ 'client secret': azure.clientSecret, 'datastore account key': azurite.accountKey, 'datastore SAS signature': new URLSearchParams(sasToken).get('sig')! });

  async function fetch(inputs: Record<string, string>, nodePath?: string) {
    const destination = join(work, `model-${Math.random().toString(36).slice(2)}`);
    const run = await runTask({
      taskDir,
      nodePath,
      inputs: { source: 'azureMLRegistry', azureSubscription: connection().id, resourceGroup: 'ml-rg', workspace: 'contoso-ml', destination, ...inputs },
      env: { ...azure.processEnv, ...endpointEnv(connection()), NODE_EXTRA_CA_CERTS: caBundle, HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1,localhost' },
    });
    return { run, destination };
  }

  function holds(folder: string): Record<string, Buffer> {
    return Object.fromEntries(readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => [join(e.parentPath, e.name).slice(folder.length + 1), readFileSync(join(e.parentPath, e.name))]));
  }

  for (const { handler, nodePath } of handlerNodes()) {
    it(`fetches the highest active version under ${handler}, from an account-key datastore, and leaks nothing`, async () => {
      const { run, destination } = await fetch({ modelName: 'churn' }, nodePath);
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '10', 'numeric order, and archived version 11 is left out');
      const files = blobs['azureml-blobstore'];
      const expected = { MLmodel: files['LocalUpload/churn/10/model/MLmodel'], 'model.pkl': files['LocalUpload/churn/10/model/model.pkl'] };
      assert.deepEqual(holds(destination), expected);
      assert.equal(run.outputs.modelUri, `azureml://subscriptions/${subscriptionId}/resourceGroups/ml-rg/workspaces/contoso-ml/models/churn/versions/10`);
      assert.equal(run.outputs.modelName, 'churn');
      assert.equal(run.outputs.modelDigest, `sha256:${sha256(`${sha256(expected.MLmodel)}  MLmodel\n${sha256(expected['model.pkl'])}  model.pkl\n`)}`);
      assert.ok(proxy.hosts.includes(BLOB_HOST), 'the blobs came from the datastore\'s own host name');
      assert.ok(run.secretsRegistered.includes(azurite.accountKey), 'the datastore key is registered as a secret');
      assertNoSecrets(run, secrets());
    });
  }

  const picks: [string, Record<string, string>, string, string[]][] = [
    ['a tag query on the version tags', { modelName: 'churn', selection: 'tagQuery', tagQuery: `"stage" = 'production'` }, '2', ['MLmodel', 'model.pkl']],
    ['a pinned version', { modelName: 'churn', selection: 'pinned', version: '1' }, '1', ['MLmodel', 'model.pkl']],
    ['the latest label, not the highest version', { modelName: 'fraud', modelLabel: 'latest' }, '4', ['fraud.onnx']],
    ['the highest single-file version', { modelName: 'fraud' }, '5', ['fraud.onnx']],
    ['a model registered from a job output (workspaceartifactstore)', { modelName: 'churn-job' }, '1', ['conda.yaml', 'weights.bin']],
    ['an identity-based datastore (the connection\'s Entra token)', { modelName: 'churn-identity' }, '7', ['weights.bin']],
    ['a SAS datastore', { modelName: 'churn-sas' }, '3', ['weights.bin']],
    ['the highest release, a higher pre-release skipped', { modelName: 'churn-rc' }, '5', ['fraud.onnx']],
    ['the highest version, pre-releases included', { modelName: 'churn-rc', includePrereleases: 'true' }, '6-rc.1', ['fraud.onnx']],
  ];
  for (const [title, inputs, version, files] of picks) {
    it(`fetches ${title}`, async () => {
      const { run, destination } = await fetch(inputs);
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, version);
      assert.deepEqual(Object.keys(holds(destination)).sort(), files, 'exactly the version\'s files, no folder that merely shares its prefix');
      assertNoSecrets(run, secrets());
    });
  }

  const failures: [string, Record<string, string>, RegExp][] = [
    ['a workspace that does not exist', { modelName: 'churn', workspace: 'nowhere' }, /Input 'workspace' is 'nowhere'/],
    ['a resource group that does not exist', { modelName: 'churn', resourceGroup: 'no-rg' }, /Input 'resourceGroup' is 'no-rg'/],
    ['a model that does not exist', { modelName: 'Churn' }, /Input 'modelName' is 'Churn'.*case-sensitive/],
    ['a pinned version that does not exist', { modelName: 'churn', selection: 'pinned', version: '99' }, /Input 'version' is '99'.*Versions found: 10, 2, 1/],
    ['an identity that may not list datastore secrets', { modelName: 'churn', workspace: 'locked-ml' }, /may not read workspace 'locked-ml'.*listsecrets/],
    ['a model on a file share datastore', { modelName: 'on-files' }, /type AzureFile/],
  ];
  for (const [title, inputs, message] of failures) {
    it(`fails clearly on ${title}, leaking nothing`, async () => {
      const { run, destination } = await fetch(inputs);
      assert.equal(run.result.status, 'Failed');
      assert.match(run.result.message, message);
      assert.ok(!readdirSync(work).includes(destination.split('/').pop()!), 'nothing written');
      assertNoSecrets(run, secrets());
    });
  }
});

function workspaces(accountKey: string, sasToken: string): WorkspaceSpec[] {
  const datastores = [
    { name: 'workspaceblobstore', accountName: 'devstoreaccount1', container: 'azureml-blobstore', credentialsType: 'AccountKey' as const, secret: accountKey },
    { name: 'workspaceartifactstore', accountName: 'devstoreaccount1', container: 'azureml', credentialsType: 'AccountKey' as const, secret: accountKey },
    { name: 'identitystore', accountName: 'devstoreaccount1', container: 'identity-models', credentialsType: 'None' as const },
    { name: 'sasstore', accountName: 'devstoreaccount1', container: 'sas-models', credentialsType: 'Sas' as const, secret: sasToken },
    { name: 'filestore', datastoreType: 'AzureFile' as const, accountName: 'devstoreaccount1', container: 'share', credentialsType: 'AccountKey' as const, secret: accountKey },
  ];
  const long = (datastore: string, path: string) => `azureml://subscriptions/${subscriptionId}/resourcegroups/ml-rg/workspaces/contoso-ml/datastores/${datastore}/paths/${path}`;
  const models = {
    churn: [
      { version: '1', modelUri: long('workspaceblobstore', 'LocalUpload/churn/1/model/') },
      { version: '10', modelUri: long('workspaceblobstore', 'LocalUpload/churn/10/model/'), tags: { stage: 'staging' } },
      { version: '2', modelUri: 'azureml://datastores/workspaceblobstore/paths/LocalUpload/churn/2/model', tags: { stage: 'production' } },
      { version: '11', modelUri: long('workspaceblobstore', 'LocalUpload/churn/11/model/'), archived: true },
    ],
    fraud: [
      { version: '5', modelUri: long('workspaceblobstore', 'LocalUpload/fraud/5/fraud.onnx') },
      { version: '4', modelUri: long('workspaceblobstore', 'LocalUpload/fraud/4/fraud.onnx') },
    ],
    'churn-job': [{ version: '1', modelUri: 'azureml://jobs/job-42/outputs/artifacts/paths/model/' }],
    'churn-identity': [{ version: '7', modelUri: long('identitystore', 'churn/7') }],
    'churn-sas': [{ version: '3', modelUri: long('sasstore', 'churn/3/') }],
    'on-files': [{ version: '1', modelUri: long('filestore', 'x/') }],
    'churn-rc': [
      { version: '5', modelUri: long('workspaceblobstore', 'LocalUpload/fraud/5/fraud.onnx') },
      { version: '6-rc.1', modelUri: long('workspaceblobstore', 'LocalUpload/fraud/4/fraud.onnx') },
    ],
  };
  return [
    { subscriptionId, resourceGroup: 'ml-rg', workspace: 'contoso-ml', models, datastores },
    { subscriptionId, resourceGroup: 'ml-rg', workspace: 'locked-ml', models, datastores, secretReaders: ['someone-else'] },
  ];
}

/** What each datastore's container holds, decoys included: folders that merely share a prefix. */
function datastoreBlobs(): Record<string, Record<string, Buffer>> {
  const model = (folder: string) => ({ [`${folder}/MLmodel`]: Buffer.from(`flavors: {} # ${folder}`), [`${folder}/model.pkl`]: randomBytes(20_000) });
  return {
    'azureml-blobstore': {
      ...model('LocalUpload/churn/1/model'),
      ...model('LocalUpload/churn/10/model'),
      ...model('LocalUpload/churn/2/model'),
      ...model('LocalUpload/churn/11/model'),
      'LocalUpload/churn/2/model-old/stale.bin': Buffer.from('not part of version 2'),
      'LocalUpload/fraud/5/fraud.onnx': randomBytes(3000),
      'LocalUpload/fraud/4/fraud.onnx': randomBytes(3000),
    },
    azureml: { 'ExperimentRun/dcid.job-42/model/weights.bin': randomBytes(5000), 'ExperimentRun/dcid.job-42/model/conda.yaml': Buffer.from('name: x') },
    'identity-models': { 'churn/7/weights.bin': randomBytes(4000), 'churn/70/weights.bin': Buffer.from('decoy') },
    'sas-models': { 'churn/3/weights.bin': randomBytes(4000) },
  };
}
