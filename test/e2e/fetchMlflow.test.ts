/**
 * Source mlflow end to end: the bundled task, as the agent runs it, takes the @champion version of
 * a registered model from the MLflow stand-in with a bearer token from a secret variable.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMlflowStandIn, type MlflowStandIn } from '../support/mlflowStandIn';
import { S3Publisher, startS3, type S3Server } from '../support/s3';
import { randomBytes } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const TOKEN = `dapi${randomBytes(16).toString('hex')}`;

describe('FetchLatestModel e2e from an MLflow model registry (the bundle as the agent runs it)', function () {
  this.timeout(120_000);
  let mlflow: MlflowStandIn;
  let s3: S3Server;
  let work: string;
  const weights = randomBytes(1024 * 1024 + 9);

  before(async () => {
    mlflow = await startMlflowStandIn({
      token: TOKEN,
      artifacts: { '3/r7/artifacts/model/model.pkl': weights, '3/r7/artifacts/model/MLmodel': Buffer.from('flavors: {}'), '3/r8/artifacts/model/model.pkl': Buffer.from('challenger') },
      models: { 'churn-s3': { versions: [{ version: '4', createdMs: 1, downloadUri: 's3://mlflow-artifacts/3/r4/artifacts/model' }] }, churn: { aliases: { champion: '7' }, versions: [{ version: '7', createdMs: 1, downloadUri: 'mlflow-artifacts:/3/r7/artifacts/model' }, { version: '8', createdMs: 2, downloadUri: 'mlflow-artifacts:/3/r8/artifacts/model' }] } },
    });
  });
  after(async () => {
    await mlflow?.close();
    await s3?.stop();
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-mlflow-e2e-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  for (const { handler, nodePath } of handlerNodes()) {
    it(`fetches the @champion version under ${handler}, and leaks nothing`, async () => {
      const destination = join(work, 'model');
      const run = await runTask({
        taskDir,
        nodePath,
        inputs: { source: 'mlflow', mlflowTrackingUri: mlflow.uri, registeredModel: 'churn', mlflowAlias: 'champion', mlflowToken: TOKEN, destination },
        secretVariables: { MlflowToken: TOKEN },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '7');
      assert.equal(run.outputs.modelUri, 'models:/churn/7');
      assert.equal(run.outputs.modelFiles, '2');
      assert.ok(readFileSync(join(destination, 'model.pkl')).equals(weights));
      assert.ok(run.secretsRegistered.includes(TOKEN));
      assertNoSecrets(run, { token: TOKEN });
    });
  }

  it('reads a version stored in S3 with the AWS inputs (the S3 store, loaded as the bundle loads it)', async () => {
    s3 = await startS3();
    await (await new S3Publisher(s3, 'mlflow-artifacts').create()).publish('3/r4/artifacts/model/model.pkl', weights);
    const destination = join(work, 'model');
    const run = await runTask({
      taskDir,
      inputs: { source: 'mlflow', mlflowTrackingUri: mlflow.uri, registeredModel: 'churn-s3', mlflowToken: TOKEN, awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey, s3Endpoint: s3.endpoint, s3ForcePathStyle: 'true', destination },
    });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.modelVersion, '4');
    assert.ok(readFileSync(join(destination, 'model.pkl')).equals(weights));
    assertNoSecrets(run, { token: TOKEN, 'secret access key': s3.secretAccessKey });
  });

  it('fails naming mlflowToken when the server refuses the token', async () => {
    const run = await runTask({ taskDir, inputs: { source: 'mlflow', mlflowTrackingUri: mlflow.uri, registeredModel: 'churn', mlflowToken: 'wrong', destination: join(work, 'model') } });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message ?? '', /Check 'mlflowToken'/);
  });
});
