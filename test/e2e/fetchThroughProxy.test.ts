/**
 * The bundled Fetch task behind the agent's proxy (Agent.ProxyUrl and its bypass list, as the
 * agent sets them): every model store source reaches every one of its peers (storage, Entra,
 * Resource Manager, Azure DevOps, Azure ML) through the proxy, a bypassed host goes direct, and an
 * authenticating proxy gets its credentials without them showing. The stand-ins serve https on
 * 127.0.0.1 with a test CA handed over as NODE_EXTRA_CA_CERTS.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AzureMlStandIn, startAzureMlStandIn } from '../support/azureMlStandIn';
import { type AzureStandIns, startAzureStandIns, subscriptionId } from '../support/azureStandIns';
import { type Azurite, containerSasUrl, startAzurite } from '../support/azurite';
import { endpointEnv } from '../support/fakeAzureEndpoint';
import { ForwardProxy } from '../support/forwardProxy';
import { assertOnlyOwnCommands } from '../support/hostileChecks';
import { type HostRoutingProxy, startHostRoutingProxy } from '../support/hostRoutingProxy';
import { ModelPublisher, randomBytes } from '../support/modelStore';
import { type PipelinesStandIn, startPipelinesStandIn } from '../support/pipelinesStandIn';
import { assertNoSecrets, runTask, visibleOutput, type RunTaskOptions, type TaskRun } from '../support/taskRunner';
import { createTestCa } from '../support/tls';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const BLOB_HOST = 'devstoreaccount1.blob.core.windows.net';
const hostOf = (url: string) => new URL(url).host;
/** A bypass entry as the agent's list holds them: a regular expression matched against the URL. */
const bypassOf = (url: string) => `^https?://${hostOf(url).replace(/\./g, '\\.')}(/|$)`;

describe('FetchLatestModel e2e behind the agent\'s proxy', function () {
  this.timeout(120_000);
  let work: string;
  let azurite: Azurite;
  let azure: AzureStandIns;
  let aml: AzureMlStandIn;
  let devops: PipelinesStandIn;
  let caBundle: string;
  const devopsToken = `eyJ0eXAiOiJKV1QiLCJhbGciOi.${randomBytes(16).toString('hex')}`;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fetch-proxy-'));
    const location = join(work, 'azurite');
    const plain = await startAzurite({ location });
    for (const container of ['models', 'azureml-blobstore']) await (await new ModelPublisher(plain.connectionString, container).create()).publish('churn/1.0.0/model.onnx', randomBytes(4096));
    await plain.stop();
    const storageCa = createTestCa(join(work, 'storage-ca'), [BLOB_HOST]);
    azurite = await startAzurite({ location, https: { cert: storageCa.cert, key: storageCa.key }, oauth: true });
    azure = await startAzureStandIns(join(work, 'azure'), { accounts: [{ name: 'modelstore', blobEndpoint: `${azurite.blobEndpoint}/` }] });
    aml = await startAzureMlStandIn({ tls: azure.ca, verifyToken: azure.entra.verifyAccessToken, workspaces: [workspace(azurite.accountKey)] });
    devops = await startPipelinesStandIn({
      accessToken: devopsToken,
      definitions: [{ id: 1, name: 'train' }],
      runs: [{ id: 10, definitionId: 1, buildNumber: '2.0.0', finishTime: new Date('2026-01-01T00:00:00Z'), artifacts: { model: [{ name: 'model.onnx', data: randomBytes(4096) }] } }],
    });
    caBundle = join(work, 'ca-bundle.pem');
    writeFileSync(caBundle, readFileSync(azure.ca.caCert, 'utf8') + readFileSync(storageCa.caCert, 'utf8'));
  });
  after(async () => {
    await Promise.all([devops?.close(), aml?.close(), azure?.close()]);
    await azurite?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** Runs the task with the agent's proxy variables; every run must succeed cleanly. */
  async function fetchVia(proxyUrl: string, options: Omit<RunTaskOptions, 'taskDir'>, proxy: { bypass?: string[]; username?: string; password?: string } = {}): Promise<TaskRun> {
    const run = await runTask({
      taskDir,
      ...options,
      inputs: { destination: join(work, `model-${Math.random().toString(36).slice(2)}`), ...options.inputs },
      env: { ...options.env, NODE_EXTRA_CA_CERTS: caBundle },
      variables: { 'Agent.ProxyUrl': proxyUrl, ...(proxy.bypass ? { 'Agent.ProxyBypassList': JSON.stringify(proxy.bypass) } : {}), ...(proxy.username ? { 'Agent.ProxyUsername': proxy.username } : {}), ...options.variables },
      secretVariables: { ...(proxy.password ? { 'Agent.ProxyPassword': proxy.password } : {}), ...options.secretVariables },
    });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assertOnlyOwnCommands(run, taskDir);
    return run;
  }

  async function withProxy<T>(use: (proxy: ForwardProxy) => Promise<T>, options: { username?: string; password?: string } = {}): Promise<T> {
    const proxy = await ForwardProxy.start(options);
    try {
      return await use(proxy);
    } finally {
      await proxy.close();
    }
  }

  const blobInputs = { container: 'models', modelPrefix: 'churn/' };

  it('azureBlob with a connection string: storage through the proxy', () => withProxy(async (proxy) => {
    const run = await fetchVia(proxy.url, { inputs: { connectionType: 'connectionString', connectionString: azurite.connectionString, ...blobInputs } });
    assert.equal(run.outputs.modelVersion, '1.0.0');
    assert.deepEqual([...proxy.peers()], [hostOf(azurite.blobEndpoint)]);
    assertNoSecrets(run, { 'account key': azurite.accountKey });
  }));

  it('azureBlob with a SAS URL, through a proxy that asks for credentials, which never show', () => withProxy(async (proxy) => {
    const sasUrl = containerSasUrl(azurite, 'models', { permissions: 'rl' });
    const run = await fetchVia(proxy.url, { inputs: { connectionType: 'sasUrl', sasUrl, ...blobInputs } }, { username: 'build-agent', password: 'Pr0xy-S3cret!' });
    assert.deepEqual([...proxy.peers()], [hostOf(azurite.blobEndpoint)]);
    assert.ok(proxy.requests.every((request) => request.authorized), 'every request carried the proxy credentials');
    assert.ok(run.secretsRegistered.includes('Pr0xy-S3cret!'));
    // azure-pipelines-task-lib echoes the secret variable once in a debug line as it loads, before any
    // task code runs (the agent masks it there, as its own proxy password); nothing else may show it.
    const showing = visibleOutput(run).split('\n').filter((line) => line.includes('Pr0xy-S3cret!'));
    assert.deepEqual(showing, ['##vso[task.debug]Agent.ProxyPassword=Pr0xy-S3cret!']);
    assertNoSecrets(run, { 'proxy Basic credentials': Buffer.from('build-agent:Pr0xy-S3cret!').toString('base64'), 'SAS signature': new URL(sasUrl).searchParams.get('sig')! });
  }, { username: 'build-agent', password: 'Pr0xy-S3cret!' }));

  const armRun = (scheme: 'federated' | 'secret') => ({
    inputs: { connectionType: 'azureResourceManager', azureSubscription: azure.connections[scheme].id, storageAccount: 'modelstore', ...blobInputs },
    env: { ...azure.processEnv, ...azure.pipelineEnv, ...endpointEnv(azure.connections[scheme]) },
  });

  it('azureResourceManager with workload identity federation: Azure DevOps (OIDC), Entra, ARM and storage through the proxy', () => withProxy(async (proxy) => {
    const run = await fetchVia(proxy.url, armRun('federated'));
    assert.equal(run.outputs.modelVersion, '1.0.0');
    assert.deepEqual([...proxy.peers()].sort(), [hostOf(azure.devops.collectionUri), hostOf(azure.entra.authorityHost), hostOf(azure.arm.url), hostOf(azurite.blobEndpoint)].sort());
    assertNoSecrets(run, { 'System.AccessToken': azure.systemAccessToken });
  }));

  it('azureResourceManager with a bypassed Entra host: Entra direct, the rest through the proxy', () => withProxy(async (proxy) => {
    const asked = azure.entra.tokenRequests.length;
    const run = await fetchVia(proxy.url, armRun('secret'), { bypass: [bypassOf(azure.entra.authorityHost)] });
    assert.equal(run.outputs.modelVersion, '1.0.0');
    assert.ok(azure.entra.tokenRequests.length > asked, 'Entra was asked, directly');
    assert.deepEqual([...proxy.peers()].sort(), [hostOf(azure.arm.url), hostOf(azurite.blobEndpoint)].sort());
    assertNoSecrets(run, { 'client secret': azure.clientSecret });
  }));

  it('pipelineArtifact: the Build REST API and the artifact host through the proxy', () => withProxy(async (proxy) => {
    const run = await fetchVia(proxy.url, {
      inputs: { source: 'pipelineArtifact', pipeline: 'train', artifactName: 'model' },
      endpoints: { SystemVssConnection: { url: devops.collectionUri, scheme: 'OAuth', parameters: { AccessToken: devopsToken } } },
      variables: { 'System.TeamProjectId': devops.projectId, 'System.CollectionUri': devops.collectionUri },
    });
    assert.equal(run.outputs.modelVersion, '2.0.0');
    assert.deepEqual([...proxy.peers()].sort(), [hostOf(devops.collectionUri), `127.0.0.1:${devops.artifactPort}`].sort());
    assertNoSecrets(run, { 'System.AccessToken': devopsToken });
  }));

  it('azureMLRegistry: Entra, Azure ML (ARM) and the datastore\'s blob host through the proxy', async () => {
    // A proxy that also sends the datastore's production host name to Azurite.
    const proxy: HostRoutingProxy = await startHostRoutingProxy({ [BLOB_HOST]: { port: azurite.port } });
    try {
      const connection = { ...azure.connections.secret, url: aml.url };
      const run = await fetchVia(proxy.url, {
        inputs: { source: 'azureMLRegistry', azureSubscription: connection.id, resourceGroup: 'ml-rg', workspace: 'contoso-ml', modelName: 'churn' },
        env: { ...azure.processEnv, ...endpointEnv(connection) },
      });
      assert.equal(run.outputs.modelVersion, '1');
      assert.deepEqual([...new Set(proxy.peers)].sort(), [hostOf(azure.entra.authorityHost), hostOf(aml.url), `${BLOB_HOST}:443`].sort());
      assertNoSecrets(run, { 'client secret': azure.clientSecret, 'datastore key': azurite.accountKey });
    } finally {
      await proxy.close();
    }
  });
});

function workspace(accountKey: string) {
  return {
    subscriptionId, resourceGroup: 'ml-rg', workspace: 'contoso-ml',
    models: { churn: [{ version: '1', modelUri: 'azureml://datastores/workspaceblobstore/paths/churn/1.0.0/' }] },
    datastores: [{ name: 'workspaceblobstore', accountName: 'devstoreaccount1', container: 'azureml-blobstore', credentialsType: 'AccountKey' as const, secret: accountKey }],
  };
}
