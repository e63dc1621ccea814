/**
 * Source mlflow end to end with an AzureRM service connection: the bundled task, as the agent runs
 * it, reads an Azure ML workspace's tracking URI as written (azureml://eastus.api.azureml.ms/…),
 * gets the connection's Entra token from the Entra stand-in, and reaches the MLflow stand-in under
 * that production host name; the version's files come from Blob Storage (wasbs://…@devstoreaccount1.blob.core.windows.net)
 * or from a workspace datastore, on Azurite over https with OAuth. An HTTPS proxy given to the task
 * routes both production host names to the local servers; TLS stays end to end.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AzureMlStandIn, startAzureMlStandIn } from '../support/azureMlStandIn';
import { assertCleanFailure } from '../support/hostileChecks';
import { type AzureStandIns, startAzureStandIns, subscriptionId } from '../support/azureStandIns';
import { type Azurite, startAzurite } from '../support/azurite';
import { endpointEnv, type EndpointSpec } from '../support/fakeAzureEndpoint';
import { type HostRoutingProxy, startHostRoutingProxy } from '../support/hostRoutingProxy';
import { type MlflowStandIn, startMlflowStandIn } from '../support/mlflowStandIn';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';
import { createTestCa } from '../support/tls';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const BLOB_HOST = 'devstoreaccount1.blob.core.windows.net';
const MLFLOW_HOST = 'eastus.api.azureml.ms';
const WORKSPACE_PATH = `/mlflow/v1.0/subscriptions/${subscriptionId}/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/contoso-ml`;
const TRACKING_URI = `azureml://${MLFLOW_HOST}${WORKSPACE_PATH}`;
/** A location the server gives in a workspace that is not there, its name carrying an agent command. */
const HOSTILE_LOCATION = `azureml://subscriptions/${subscriptionId}/resourceGroups/ml-rg/workspaces/retired-ml ##vso[task.setvariable variable=INJECTED]pwned/datastores/workspaceblobstore/paths/m/`;

describe('FetchLatestModel e2e from an Azure ML workspace\'s MLflow endpoint with an AzureRM connection', function () {
  this.timeout(120_000);
  let work: string;
  let azurite: Azurite;
  let azure: AzureStandIns;
  let aml: AzureMlStandIn;
  let mlflow: MlflowStandIn;
  let proxy: HostRoutingProxy;
  let caBundle: string;
  const weights = randomBytes(2 * 1024 * 1024 + 11);
  const datastoreWeights = randomBytes(500_000);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fetch-mlflow-azure-e2e-'));
    const location = join(work, 'azurite');
    const plain = await startAzurite({ location });
    const runs = await new ModelPublisher(plain.connectionString, 'mlflow').create();
    await runs.publish('5/r12/artifacts/model/model.pkl', weights);
    await runs.publish('5/r12/artifacts/model/MLmodel', Buffer.from('flavors: {}'));
    await (await new ModelPublisher(plain.connectionString, 'azureml-blobstore').create()).publish('LocalUpload/churn/4/model/model.pkl', datastoreWeights);
    await plain.stop();
    const ca = createTestCa(join(work, 'hosts-ca'), [BLOB_HOST, MLFLOW_HOST]);
    azurite = await startAzurite({ location, https: { cert: ca.cert, key: ca.key }, oauth: true });
    azure = await startAzureStandIns(join(work, 'azure'));
    const datastores = [{ name: 'workspaceblobstore', accountName: 'devstoreaccount1', container: 'azureml-blobstore', credentialsType: 'None' as const }];
    aml = await startAzureMlStandIn({ tls: azure.ca, verifyToken: azure.entra.verifyAccessToken, workspaces: [{ subscriptionId, resourceGroup: 'ml-rg', workspace: 'contoso-ml', models: {}, datastores }] });
    const armOrigin = new URL(aml.url).origin;
    mlflow = await startMlflowStandIn({
      tls: ca,
      basePath: WORKSPACE_PATH,
      acceptsToken: (token) => String(azure.entra.verifyAccessToken(token)?.aud ?? '').replace(/\/$/, '') === armOrigin,
      artifacts: {},
      models: {
        churn: {
          aliases: { champion: '12' },
          versions: [
            { version: '12', createdMs: 12, downloadUri: `wasbs://mlflow@${BLOB_HOST}/5/r12/artifacts/model` },
            { version: '4', createdMs: 4, downloadUri: 'azureml://datastores/workspaceblobstore/paths/LocalUpload/churn/4/model' },
            { version: '3', createdMs: 3, downloadUri: HOSTILE_LOCATION },
          ],
        },
      },
    });
    proxy = await startHostRoutingProxy({ [BLOB_HOST]: { port: azurite.port }, [MLFLOW_HOST]: { port: Number(new URL(mlflow.uri).port) } });
    caBundle = join(work, 'ca-bundle.pem');
    writeFileSync(caBundle, readFileSync(azure.ca.caCert, 'utf8') + readFileSync(ca.caCert, 'utf8'));
  });
  after(async () => {
    await Promise.all([proxy, mlflow, aml, azure].map((server) => server?.close()));
    await azurite?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const connection = (): EndpointSpec => ({ ...azure.connections.secret, url: aml.url });

  async function fetch(inputs: Record<string, string>, nodePath?: string) {
    const destination = join(work, `model-${Math.random().toString(36).slice(2)}`);
    const tokensBefore = mlflow.tokens.length;
    const run = await runTask({
      taskDir,
      nodePath,
      inputs: { source: 'mlflow', mlflowTrackingUri: TRACKING_URI, registeredModel: 'churn', connectionType: 'azureResourceManager', azureSubscription: connection().id, destination, ...inputs },
      env: { ...azure.processEnv, ...endpointEnv(connection()), NODE_EXTRA_CA_CERTS: caBundle, HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1,localhost' },
    });
    return { run, destination, tokens: mlflow.tokens.slice(tokensBefore) };
  }

  function assertNothingLeaked({ run, tokens }: Awaited<ReturnType<typeof fetch>>) {
    assert.ok(tokens.length > 0, 'the workspace was sent Entra tokens');
    for (const token of tokens) assert.ok(run.secretsRegistered.includes(token), 'each token is registered as a secret');
    assertNoSecrets(run, { 'client secret': azure.clientSecret, ...Object.fromEntries(tokens.map((token, i) => [`Entra token ${i + 1}`, token])) });
  }

  for (const { handler, nodePath } of handlerNodes()) {
    it(`takes the @champion version under ${handler}, its files from Blob Storage, and leaks no token`, async () => {
      const fetched = await fetch({ mlflowAlias: 'champion' }, nodePath);
      const { run, destination } = fetched;
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '12');
      assert.equal(run.outputs.modelUri, 'models:/churn/12');
      assert.equal(run.outputs.modelDigest, `sha256:${sha256(`${sha256(Buffer.from('flavors: {}'))}  MLmodel\n${sha256(weights)}  model.pkl\n`)}`);
      assert.ok(readFileSync(join(destination, 'model.pkl')).equals(weights));
      assert.ok(proxy.hosts.includes(MLFLOW_HOST) && proxy.hosts.includes(BLOB_HOST), 'both production host names were asked for');
      assertNothingLeaked(fetched);
    });
  }

  it('takes a version kept in a workspace datastore (azureml://datastores/…), through the workspace', async () => {
    const fetched = await fetch({ selection: 'pinned', version: '4' });
    assert.equal(fetched.run.result.status, 'Succeeded', visibleOutput(fetched.run));
    assert.deepEqual(readdirSync(fetched.destination), ['model.pkl']);
    assert.ok(readFileSync(join(fetched.destination, 'model.pkl')).equals(datastoreWeights));
    assertNothingLeaked(fetched);
  });

  it('fails naming the artifact location the server returned (defused), not mlflowTrackingUri, when only that location names the workspace', async () => {
    const { run, destination } = await fetch({ selection: 'pinned', version: '3' });
    assertCleanFailure(run, { taskDir, names: /^The MLflow tracking server returned the artifact location azureml:\/\/subscriptions\/[^ ]+\/workspaces\/retired-ml #\\#vso\[task\.setvariable variable=INJECTED\]pwned\/datastores\//, secrets: { 'client secret': azure.clientSecret }, absent: [destination] });
    assert.doesNotMatch(run.result.message, /mlflowTrackingUri/);
    assert.equal(run.variables.INJECTED, undefined);
  });

  it('fails naming azureSubscription when neither a connection nor a token is given for the workspace', async () => {
    const { run } = await fetch({ azureSubscription: '' });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message, /Input 'azureSubscription'.*Azure ML workspace's MLflow endpoint/);
  });
});
