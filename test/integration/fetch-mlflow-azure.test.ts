/**
 * Source mlflow against an Azure ML workspace's MLflow endpoint (the MLflow stand-in under the
 * workspace path, over TLS, taking Entra tokens for Resource Manager's audience), with the AzureRM
 * connection's credential from the Entra stand-in. Artifacts come from Blob Storage (Azurite over
 * https with OAuth, reached under its production host name through a routing proxy) and from the
 * workspace's datastores (the Azure ML stand-in's ARM). Inputs are read by the task's own reader.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { OwnedLifetime } from '../../tasks/common/lifetime';
import { silentProgress } from '../../tasks/common/log';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { openModelStore } from '../../tasks/common/model/openStore';
import { Network } from '../../tasks/common/net/network';
import { networkSettings, proxySettings } from '../../tasks/common/net/settings';
import { readFetchInputs } from '../../tasks/common/pipeline/fetchInputs';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { type AzureMlStandIn, startAzureMlStandIn } from '../support/azureMlStandIn';
import { type AzureStandIns, startAzureStandIns, subscriptionId } from '../support/azureStandIns';
import { type Azurite, startAzurite } from '../support/azurite';
import { fakeAgent } from '../support/fakeAgent';
import { type HostRoutingProxy, startHostRoutingProxy } from '../support/hostRoutingProxy';
import { type MlflowStandIn, type StandInModel, startMlflowStandIn } from '../support/mlflowStandIn';
import { ModelPublisher, randomBytes } from '../support/modelStore';
import { createTestCa } from '../support/tls';

const BLOB_HOST = 'devstoreaccount1.blob.core.windows.net';
const WORKSPACE_PATH = `/mlflow/v1.0/subscriptions/${subscriptionId}/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/contoso-ml`;
/** Artifact locations the server gives in workspaces that are not there: the server's data, not an input. */
const RETIRED_WORKSPACE_URI = `azureml://subscriptions/${subscriptionId}/resourcegroups/ml-rg/workspaces/retired-ml/datastores/workspaceblobstore/paths/LocalUpload/churn/5/model/`;
const GONE_GROUP_URI = `azureml://subscriptions/${subscriptionId}/resourceGroups/gone-rg/workspaces/contoso-ml/datastores/workspaceblobstore/paths/LocalUpload/churn/4/model/`;

describe('fetchLatestModel from an Azure ML workspace\'s MLflow endpoint, with an AzureRM connection', function () {
  this.timeout(60_000);
  let work: string;
  let azurite: Azurite;
  let azure: AzureStandIns;
  let aml: AzureMlStandIn;
  let mlflow: MlflowStandIn;
  let expiring: MlflowStandIn;
  let plainServer: MlflowStandIn;
  let proxy: HostRoutingProxy;
  let network: Network;
  const blobs: Record<string, Record<string, Buffer>> = {
    mlflow: { '1/run9/artifacts/model/model.pkl': randomBytes(1024 * 1024 + 7), '1/run9/artifacts/model/MLmodel': Buffer.from('flavors: {}'), '1/run9/artifacts/model-old/stale.bin': Buffer.from('not part of it') },
    'azureml-blobstore': { 'LocalUpload/churn/3/model/model.pkl': randomBytes(300_000), 'LocalUpload/churn/30/model/decoy.bin': Buffer.from('decoy') },
    'identity-models': { 'churn/7/weights.bin': randomBytes(4000), 'churn/70/weights.bin': Buffer.from('decoy') },
  };
  const models: Record<string, StandInModel> = {
    churn: {
      aliases: { champion: '9', datastore: '3', identity: '7', hostile: '6', retired: '5', gone: '4' },
      versions: [
        { version: '9', createdMs: 9, downloadUri: `wasbs://mlflow@${BLOB_HOST}/1/run9/artifacts/model` },
        { version: '3', createdMs: 3, downloadUri: `azureml://subscriptions/${subscriptionId}/resourceGroups/ml-rg/workspaces/contoso-ml/datastores/workspaceblobstore/paths/LocalUpload/churn/3/model/` },
        { version: '7', createdMs: 7, downloadUri: 'azureml://datastores/identitystore/paths/churn/7' },
        { version: '6', createdMs: 6, downloadUri: 'https://evil.example.com/mlflow/1/run9/artifacts/model' },
        { version: '5', createdMs: 5, downloadUri: RETIRED_WORKSPACE_URI },
        { version: '4', createdMs: 4, downloadUri: GONE_GROUP_URI },
      ],
    },
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fetch-mlflow-azure-'));
    const location = join(work, 'azurite');
    const plain = await startAzurite({ location });
    for (const [container, files] of Object.entries(blobs)) {
      const publisher = await new ModelPublisher(plain.connectionString, container).create();
      for (const [name, data] of Object.entries(files)) await publisher.publish(name, data);
    }
    await plain.stop();
    const storageCa = createTestCa(join(work, 'storage-ca'), [BLOB_HOST]);
    azurite = await startAzurite({ location, https: { cert: storageCa.cert, key: storageCa.key }, oauth: true });
    azure = await startAzureStandIns(join(work, 'azure'));
    const datastores = [
      { name: 'workspaceblobstore', accountName: 'devstoreaccount1', container: 'azureml-blobstore', credentialsType: 'AccountKey' as const, secret: azurite.accountKey },
      { name: 'identitystore', accountName: 'devstoreaccount1', container: 'identity-models', credentialsType: 'None' as const },
    ];
    aml = await startAzureMlStandIn({ tls: azure.ca, verifyToken: azure.entra.verifyAccessToken, workspaces: [{ subscriptionId, resourceGroup: 'ml-rg', workspace: 'contoso-ml', models: {}, datastores }] });
    // Azure ML's MLflow endpoint takes tokens for Resource Manager's audience: here, the ARM stand-in's origin.
    const armOrigin = new URL(aml.url).origin;
    const acceptsToken = (token: string) => String(azure.entra.verifyAccessToken(token)?.aud ?? '').replace(/\/$/, '') === armOrigin;
    mlflow = await startMlflowStandIn({ tls: azure.ca, basePath: WORKSPACE_PATH, acceptsToken, artifacts: {}, models });
    expiring = await startMlflowStandIn({ tls: azure.ca, basePath: WORKSPACE_PATH, acceptsToken, expireFirstTokenAfter: 1, artifacts: {}, models });
    plainServer = await startMlflowStandIn({ artifacts: {}, models });
    proxy = await startHostRoutingProxy({ [BLOB_HOST]: { port: azurite.port } });
    network = new Network(networkSettings({ proxy: proxySettings(new URL(proxy.url), [/127\.0\.0\.1/]), tls: { ca: [readFileSync(azure.ca.caCert, 'utf8'), readFileSync(storageCa.caCert, 'utf8')] } }));
  });
  after(async () => {
    await Promise.all([mlflow, expiring, plainServer, proxy, aml, azure].map((server) => server?.close()));
    await azurite?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function fetch(inputs: Record<string, string>, server: MlflowStandIn = mlflow) {
    const { id, ...endpoint } = azure.connections.secret;
    const destination = join(work, `model-${Math.random().toString(36).slice(2)}`);
    const agent = fakeAgent({ source: 'mlflow', mlflowTrackingUri: server.uri, registeredModel: 'churn', connectionType: 'azureResourceManager', azureSubscription: id, destination, ...inputs }, { endpoints: { [id]: { ...endpoint, url: aml.url } } });
    const read = readFetchInputs(agent);
    const registered: string[] = [];
    const lifetime = new OwnedLifetime();
    const context = { log: agent.log, progress: silentProgress, network, lifetime, registerSecret: (value: string) => void registered.push(value) };
    const attempt = async () => fetchLatestModel(await openModelStore(read.access, context), read.fetch, context);
    return { attempt, agent, registered, settings: read.settings, destination, tokensBefore: server.tokens.length };
  }

  const holds = (folder: string) => Object.fromEntries(readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => [join(e.parentPath, e.name).slice(folder.length + 1), readFileSync(join(e.parentPath, e.name))]));
  const under = (container: string, prefix: string) => Object.fromEntries(Object.entries(blobs[container]).filter(([name]) => name.startsWith(prefix)).map(([name, data]) => [name.slice(prefix.length), data]));

  /** No token, key or secret the run used is in its log; every token sent was registered as a secret first. */
  function assertNothingLeaked(run: { agent: { lines: string[] }; registered: string[]; tokensBefore: number }, server: MlflowStandIn) {
    const log = run.agent.lines.join('\n');
    const tokens = server.tokens.slice(run.tokensBefore);
    assert.ok(tokens.length > 0, 'the server was sent Entra tokens');
    for (const token of tokens) {
      assert.ok(run.registered.includes(token), 'each token is registered as a secret before it is sent');
      assert.ok(!log.includes(token), 'no token in the log');
    }
    for (const secret of [azure.clientSecret, azurite.accountKey]) assert.ok(!log.includes(secret), 'no client secret or account key in the log');
  }

  it('takes the @champion version from the workspace with the connection\'s token, its files from Blob Storage with the connection\'s identity', async () => {
    const run = await fetch({ mlflowAlias: 'champion' });
    const model = await run.attempt();
    assert.equal(model.version, '9');
    assert.deepEqual(holds(model.path), under('mlflow', '1/run9/artifacts/model/'));
    assert.ok(model.verified);
    assert.ok(proxy.hosts.includes(BLOB_HOST), 'the blobs came from the account\'s own host name');
    assert.ok(mlflow.requests.some((request) => request.startsWith(`GET ${WORKSPACE_PATH}/api/2.0/mlflow/registered-models/alias?name=churn&alias=champion`)));
    assertNothingLeaked(run, mlflow);
  });

  it('reads a version in a workspace datastore (azureml://…/datastores/…) through the workspace, the datastore key registered as a secret', async () => {
    const run = await fetch({ mlflowAlias: 'datastore' });
    const model = await run.attempt();
    assert.deepEqual(holds(model.path), under('azureml-blobstore', 'LocalUpload/churn/3/model/'));
    assert.ok(run.registered.includes(azurite.accountKey));
    assertNothingLeaked(run, mlflow);
  });

  it('reads a short azureml://datastores/… URI from the tracking workspace\'s identity-based datastore', async () => {
    const model = await (await fetch({ mlflowAlias: 'identity' })).attempt();
    assert.deepEqual(holds(model.path), under('identity-models', 'churn/7/'));
  });

  it('renews an expired token once and goes on, registering the new one too', async () => {
    const run = await fetch({ mlflowAlias: 'champion' }, expiring);
    const model = await run.attempt();
    assert.equal(model.version, '9');
    assert.equal(expiring.tokens.length, 2, 'a second token, after the first was refused');
    assert.equal(expiring.requests.length, 3, 'alias, get-download-uri refused, get-download-uri again');
    assertNothingLeaked(run, expiring);
  });

  it('fails naming azureSubscription when the workspace refuses every token, after one renewal', async () => {
    const refusing = await startMlflowStandIn({ tls: azure.ca, basePath: WORKSPACE_PATH, acceptsToken: () => false, artifacts: {}, models });
    try {
      const run = await fetch({ mlflowAlias: 'champion' }, refusing);
      await assert.rejects(run.attempt(), (error: unknown) => error instanceof SettingError && error.setting === 'trackingCredential' && /HTTP 401/.test(error.message));
      assert.equal(run.settings.trackingCredential, 'azureSubscription');
      assert.equal(refusing.tokens.length, 2, 'one renewal, no more');
      assert.equal(refusing.requests.length, 2);
      assert.deepEqual(readdirSync(work).filter((name) => name === run.destination.split('/').pop()), [], 'nothing written');
    } finally {
      await refusing.close();
    }
  });

  it('never sends the connection\'s token to a host that is not Azure Blob Storage', async () => {
    const run = await fetch({ mlflowAlias: 'hostile' });
    await assert.rejects(run.attempt(), (error: unknown) => error instanceof TaskError && error.key === 'MlflowArtifactStoreUnsupported' && /https:\/\/evil\.example\.com/.test(error.message));
    assert.ok(!proxy.hosts.includes('evil.example.com'));
  });

  const fromServer: [string, string, string, RegExp][] = [
    ['a workspace', 'retired', RETIRED_WORKSPACE_URI, /workspace 'retired-ml' in resource group 'ml-rg' .*: no such workspace in that resource group/],
    ['a resource group', 'gone', GONE_GROUP_URI, /workspace 'contoso-ml' in resource group 'gone-rg' .*: no such resource group in that subscription/],
  ];
  for (const [what, alias, uri, missingPart] of fromServer) {
    it(`names the server's artifact location, not mlflowTrackingUri, for ${what} that only the location names`, async () => {
      const run = await fetch({ mlflowAlias: alias });
      const error = await run.attempt().then(() => assert.fail('fetched'), (caught: unknown) => caught);
      assert.ok(error instanceof TaskError, String(error));
      assert.equal(error.key, 'MlflowArtifactWorkspaceMissing', error.message);
      assert.ok(!(error instanceof SettingError), 'not a setting of the task: the location came from the server');
      const reported = asInputError(error, run.settings);
      assert.ok(!(reported instanceof InputError && reported.input === 'mlflowTrackingUri'), `named ${(reported as InputError).input}`);
      assert.ok((reported as Error).message.startsWith(`The MLflow tracking server returned the artifact location ${uri} `), (reported as Error).message);
      assert.match((reported as Error).message, missingPart);
      assert.match((reported as Error).message, /azureml:\/\/datastores\/<datastore>\/paths\/<path>/, 'says what is accepted');
      assert.deepEqual(readdirSync(work).filter((name) => name === run.destination.split('/').pop()), [], 'nothing written');
    });
  }

  it('still names mlflowTrackingUri when the workspace the user typed is not there', async () => {
    const ghostPath = WORKSPACE_PATH.replace('/contoso-ml', '/ghost-ml');
    const armOrigin = new URL(aml.url).origin;
    const ghost = await startMlflowStandIn({
      tls: azure.ca, basePath: ghostPath, artifacts: {}, models,
      acceptsToken: (token) => String(azure.entra.verifyAccessToken(token)?.aud ?? '').replace(/\/$/, '') === armOrigin,
    });
    try {
      const run = await fetch({ mlflowAlias: 'identity' }, ghost);
      const error = await run.attempt().then(() => assert.fail('fetched'), (caught: unknown) => caught);
      assert.ok(error instanceof SettingError && error.setting === 'workspace', String(error));
      const reported = asInputError(error, run.settings);
      assert.ok(reported instanceof InputError && reported.input === 'mlflowTrackingUri', String(reported));
      assert.match(reported.message, /^Input 'mlflowTrackingUri' is 'ghost-ml', but resource group ml-rg has no Azure Machine Learning workspace/);
    } finally {
      await ghost.close();
    }
  });

  const missing: [string, Record<string, string>, string, RegExp][] = [
    ['a Blob Storage version', { mlflowAlias: 'champion' }, 'MlflowBlobNeedsCredentials', /stored in Blob Storage, at https:\/\/devstoreaccount1\.blob\.core\.windows\.net\/mlflow\/1\/run9\/artifacts\/model, and the task has no credential/],
    ['a datastore version', { mlflowAlias: 'datastore' }, 'MlflowDatastoreNeedsConnection', /stored in an Azure ML datastore/],
  ];
  for (const [title, inputs, key, message] of missing) {
    it(`names azureSubscription for ${title} on a server of its own without the connection`, async () => {
      const run = await fetch({ ...inputs, azureSubscription: '' }, plainServer);
      await assert.rejects(run.attempt(), (error: unknown) => error instanceof SettingError && error.setting === 'storeConnection' && error.key === key && message.test(error.message));
      assert.equal(run.settings.storeConnection, 'azureSubscription');
    });
  }
});
