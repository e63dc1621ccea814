/**
 * Source mlflow against an MLflow tracking server stand-in: aliases, the highest version number,
 * newest, version tags, pinned; files through the artifact proxy with ranged reads; an MLflow 3
 * logged model (models:/m-…) resolved; a bearer token from a secret input. Inputs are read by the
 * task's own reader.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { silentProgress } from '../../tasks/common/log';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { openModelStore } from '../../tasks/common/model/openStore';
import { readFetchInputs } from '../../tasks/common/pipeline/fetchInputs';
import { fakeAgent } from '../support/fakeAgent';
import { startMlflowStandIn, type MlflowStandIn } from '../support/mlflowStandIn';
import { startAzurite, type Azurite } from '../support/azurite';
import { ModelPublisher } from '../support/modelStore';
import { S3Publisher, startS3, type S3Server } from '../support/s3';
import { randomBytes } from '../support/modelStore';
import { testServices } from '../support/services';

const TOKEN = 'dapi-0123456789abcdef';

describe('fetchLatestModel from an MLflow model registry (stand-in)', function () {
  this.timeout(30_000);
  let mlflow: MlflowStandIn;
  let s3: S3Server;
  let azurite: Azurite;
  let work: string;
  const blobWeights = randomBytes(1024 * 1024 + 3);
  const s3Weights = randomBytes(2 * 1024 * 1024 + 1);
  const weights = randomBytes(3 * 1024 * 1024 + 5);
  const artifacts: Record<string, Buffer> = {
    '1/run1/artifacts/model/MLmodel': Buffer.from('flavors: {sklearn: {}} # v1'),
    '1/run1/artifacts/model/model.pkl': randomBytes(1000),
    '1/run2/artifacts/model/MLmodel': Buffer.from('flavors: {sklearn: {}} # v2'),
    '1/run2/artifacts/model/model.pkl': weights,
    '1/run2/artifacts/model/data/encoder/labels.json': Buffer.from('["yes","no"]'),
    '1/run10/artifacts/model/MLmodel': Buffer.from('# v10'),
    '1/models/m-abc123/artifacts/MLmodel': Buffer.from('# logged model m-abc123'),
    '1/models/m-abc123/artifacts/model.onnx': randomBytes(2000),
  };

  before(async () => {
    azurite = await startAzurite();
    const blobs = await new ModelPublisher(azurite.connectionString, 'mlflow').create();
    await blobs.publish('1/run9/artifacts/model/model.pkl', blobWeights);
    await blobs.publish('1/run9/artifacts/model-old/stale.bin', Buffer.from('not part of the model'));
    mlflow = await startMlflowStandIn({
      token: TOKEN,
      pageSize: 2,
      artifacts,
      loggedModels: { 'm-abc123': 'mlflow-artifacts:/1/models/m-abc123/artifacts' },
      models: {
        churn: {
          aliases: { champion: '2', challenger: '10' },
          versions: [
            { version: '1', createdMs: Date.UTC(2026, 0, 1), downloadUri: 'mlflow-artifacts:/1/run1/artifacts/model', tags: { stage: 'production' } },
            { version: '2', createdMs: Date.UTC(2026, 0, 3), downloadUri: 'mlflow-artifacts:/1/run2/artifacts/model', tags: { stage: 'production' } },
            { version: '10', createdMs: Date.UTC(2026, 0, 2), downloadUri: 'mlflow-artifacts://mlflow.contoso.com/1/run10/artifacts/model' },
            { version: '11', createdMs: Date.UTC(2026, 0, 4), downloadUri: 'mlflow-artifacts:/1/run11/artifacts/model', status: 'PENDING_REGISTRATION' },
          ],
        },
        'churn-v3': { versions: [{ version: '1', createdMs: Date.UTC(2026, 1, 1), downloadUri: 'models:/m-abc123' }, { version: '2', createdMs: Date.UTC(2026, 1, 2), downloadUri: 'models:/m-gone' }] },
        'churn-s3': { versions: [{ version: '1', createdMs: 0, downloadUri: 's3://contoso-mlflow/1/run9/artifacts/model' }, { version: '2', createdMs: 0, downloadUri: 's3://contoso-mlflow/1/run10/artifacts/model' }] },
        'churn-blob': { versions: [{ version: '1', createdMs: 0, downloadUri: 'wasbs://mlflow@contoso.blob.core.windows.net/1/run9/artifacts/model?sv=2024&sig=secret' }] },
        'churn-azurite': { versions: [{ version: '3', createdMs: 0, downloadUri: `${azurite.blobEndpoint}/mlflow/1/run9/artifacts/model` }] },
      },
    });
  });
  before(async () => {
    s3 = await startS3();
    const publisher = await new S3Publisher(s3, 'contoso-mlflow').create();
    await publisher.publish('1/run9/artifacts/model/model.pkl', s3Weights);
    await publisher.publish('1/run9/artifacts/model/MLmodel', Buffer.from('flavors: {}'));
    await publisher.publish('1/run9/artifacts/model-old/stale.bin', Buffer.from('not part of the model'));
    await publisher.publish('1/run10/artifacts/model/model.pkl', Buffer.from('tampered'), { sha256: 'a'.repeat(64) });
  });
  after(async () => {
    await mlflow?.close();
    await s3?.stop();
    await azurite?.stop();
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-mlflow-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  async function fetch(inputs: Record<string, string>) {
    const agent = fakeAgent({ source: 'mlflow', mlflowTrackingUri: mlflow.uri, mlflowToken: TOKEN, registeredModel: 'churn', destination: join(work, 'model'), ...inputs });
    const read = readFetchInputs(agent);
    const services = testServices();
    const store = await openModelStore(read.access, { log: agent.log, progress: silentProgress, ...services, registerSecret: () => undefined });
    const model = await fetchLatestModel(store, read.fetch, { log: agent.log, progress: silentProgress, ...services });
    return { model, agent };
  }

  const files = (folder: string) => Object.fromEntries(readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => [join(e.parentPath, e.name).slice(folder.length + 1), readFileSync(join(e.parentPath, e.name))]));
  const under = (prefix: string) => Object.fromEntries(Object.entries(artifacts).filter(([path]) => path.startsWith(prefix)).map(([path, data]) => [path.slice(prefix.length), data]));

  it('takes the version an alias points to, its files through the artifact proxy in ranged reads, nested folders included', async () => {
    const { model, agent } = await fetch({ mlflowAlias: 'champion' });
    assert.equal(model.version, '2');
    assert.deepEqual(files(model.path), under('1/run2/artifacts/model/'));
    assert.equal(model.uri, 'models:/churn/2');
    assert.ok(mlflow.requests.some((request) => request.startsWith('GET /api/2.0/mlflow/registered-models/alias?name=churn&alias=champion')));
    assert.ok(agent.secrets.includes(TOKEN), 'the token is registered as a secret');
  });

  const picks: [string, Record<string, string>, string][] = [
    ['the highest version number (10 > 2), a pending version left out, across search pages', {}, '10'],
    ['the newest READY version', { selection: 'newest' }, '2'],
    ['the highest version whose tags match', { selection: 'tagQuery', tagQuery: `"stage" = 'production'` }, '2'],
    ['a pinned version', { selection: 'pinned', version: '1' }, '1'],
  ];
  for (const [title, inputs, version] of picks) {
    it(`takes ${title}`, async () => {
      assert.equal((await fetch(inputs)).model.version, version);
    });
  }

  it('resolves an MLflow 3 logged model (models:/m-…) to its artifacts, and says so when it cannot', async () => {
    const { model } = await fetch({ registeredModel: 'churn-v3', selection: 'pinned', version: '1' });
    assert.deepEqual(files(model.path), under('1/models/m-abc123/artifacts/'));
    await assert.rejects(fetch({ registeredModel: 'churn-v3', selection: 'pinned', version: '2' }), (error: unknown) => error instanceof TaskError && error.key === 'MlflowLoggedModelUnresolved' && /models:\/m-gone/.test(error.message));
  });

  it('reads a version kept in S3 through the S3 store with the AWS inputs, verified against its sha256 metadata', async () => {
    const aws = { awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey, s3Endpoint: s3.endpoint, s3ForcePathStyle: 'true' };
    const { model } = await fetch({ registeredModel: 'churn-s3', selection: 'pinned', version: '1', ...aws });
    assert.deepEqual(files(model.path), { 'model.pkl': s3Weights, MLmodel: Buffer.from('flavors: {}') });
    assert.ok(model.verified);
    rmSync(join(work, 'model'), { recursive: true });
    await assert.rejects(fetch({ registeredModel: 'churn-s3', selection: 'pinned', version: '2', ...aws }), /sha256/);
  });

  it('reads a version kept in Blob Storage through the blob store, with a connection string of that account', async () => {
    const { model } = await fetch({ registeredModel: 'churn-azurite', connectionString: azurite.connectionString });
    assert.deepEqual(files(model.path), { 'model.pkl': blobWeights });
    assert.ok(model.verified);
    rmSync(join(work, 'model'), { recursive: true });
    await assert.rejects(fetch({ registeredModel: 'churn-azurite' }), (error: unknown) => error instanceof TaskError && error.key === 'MlflowArtifactStoreUnsupported');
  });

  it('says what it needs for a version in S3 without AWS inputs, and for one in Blob Storage without a credential, without its query', async () => {
    await assert.rejects(fetch({ registeredModel: 'churn-s3' }), (error: unknown) => error instanceof TaskError && error.key === 'MlflowS3NeedsCredentials' && /s3:\/\/contoso-mlflow\/1\/run10\/artifacts\/model: give the task AWS credentials/.test(error.message));
    await assert.rejects(fetch({ registeredModel: 'churn-blob' }), (error: unknown) => error instanceof SettingError && error.setting === 'storeConnection' && error.key === 'MlflowBlobNeedsCredentials' && /https:\/\/contoso\.blob\.core\.windows\.net\/mlflow\/1\/run9\/artifacts\/model, and the task has no credential/.test(error.message) && !/sig=/.test(error.message));
  });

  const failures: [string, Record<string, string>, string, RegExp][] = [
    ['a wrong token', { mlflowToken: 'nope' }, 'trackingCredential', /HTTP 401/],
    ['no token', { mlflowToken: '' }, 'trackingCredential', /HTTP 401/],
    ['an alias that does not exist', { mlflowAlias: 'gold' }, 'modelLabel', /no alias 'gold'/],
    ['a model that does not exist', { registeredModel: 'Churn' }, 'modelName', /no registered model Churn/],
    ['a pinned version that does not exist', { selection: 'pinned', version: '99' }, 'modelVersion', /10, 2, 1/],
  ];
  for (const [title, inputs, setting, message] of failures) {
    it(`fails on ${title}, naming the setting`, async () => {
      await assert.rejects(fetch(inputs), (error: unknown) => error instanceof SettingError && error.setting === setting && message.test(error.message));
      assert.deepEqual(readdirSync(work), [], 'nothing written');
    });
  }
});
