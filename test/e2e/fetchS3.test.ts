import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, sha256 } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { S3Publisher, startS3, type S3Server } from '../support/s3';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const MiB = 1024 * 1024;
const ROLE = 'arn:aws:iam::123456789012:role/model-reader';

describe('FetchLatestModel e2e from S3 (the bundle as the agent runs it, against s3rver)', function () {
  this.timeout(120_000);
  let s3: S3Server;
  let temporary: S3Server;
  let work: string;
  const weights = randomBytes(3 * MiB + 11);
  const config = Buffer.from('{"threshold":0.7}');

  before(async () => {
    s3 = await startS3({ sts: { roles: [{ arn: ROLE, externalId: 'contoso-7f3a9c' }] } });
    const publisher = await new S3Publisher(s3, 'models').create();
    await publisher.publish('churn/1.9.0/weights.bin', randomBytes(100));
    await publisher.publish('churn/2.0.0/weights.bin', weights, { tags: { stage: 'production' } });
    await publisher.publish('churn/2.0.0/config/settings.json', config, { tags: { stage: 'production' } });
    await publisher.publish('churn/2.1.0-rc.1/weights.bin', randomBytes(100), { tags: { stage: 'staging' } });
    temporary = await startS3({ sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(40).toString('base64')}` });
    await (await new S3Publisher(temporary, 'models').create()).publish('fraud/fraud-1.2.0.onnx', randomBytes(2000));
  });
  after(async () => {
    await s3?.stop();
    await temporary?.stop();
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-s3-e2e-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const storeInputs = (server: S3Server = s3) => ({ source: 's3', s3Bucket: 'models', s3Endpoint: server.endpoint, s3ForcePathStyle: 'true' });
  const secrets = () => ({ 'secret access key': s3.secretAccessKey, 'other secret access key': temporary.secretAccessKey, 'session token': temporary.sessionToken! });

  for (const { handler, nodePath } of handlerNodes()) {
    it(`fetches with keys from secret variables under ${handler}, and leaks nothing`, async () => {
      const destination = join(work, 'model');
      const run = await runTask({
        taskDir,
        nodePath,
        inputs: { ...storeInputs(), awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey, modelPrefix: 'churn/', selection: 'tagQuery', tagQuery: `"stage" = 'production'`, destination },
        secretVariables: { AwsSecretAccessKey: s3.secretAccessKey },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '2.0.0');
      assert.equal(run.outputs.modelUri, 's3://models/churn/2.0.0/');
      assert.equal(run.outputs.modelFiles, '2');
      assert.equal(run.outputs.modelDigest, `sha256:${sha256(`${sha256(config)}  config/settings.json\n${sha256(weights)}  weights.bin\n`)}`);
      assert.ok(readFileSync(join(destination, 'weights.bin')).equals(weights));
      assert.ok(run.secretsRegistered.includes(s3.secretAccessKey), 'the secret key is registered as a secret');
      const summary = run.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary');
      assert.ok(summary?.content?.includes('published digest checked'));
      assertNoSecrets(run, secrets());
    });
  }

  it('fetches through an AWS service connection (AWS Toolkit shape: username / password)', async () => {
    const run = await runTask({
      taskDir,
      inputs: { ...storeInputs(), awsCredentials: 'aws-models', modelPrefix: 'churn/', destination: join(work, 'model') },
      endpoints: { 'aws-models': { scheme: 'UsernamePassword', parameters: { username: s3.accessKeyId, password: s3.secretAccessKey } } },
    });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.modelVersion, '2.0.0', 'the highest release: 2.1.0-rc.1 is skipped');
    assert.ok(run.secretsRegistered.includes(s3.secretAccessKey), 'the connection\'s secret key is registered as a secret');
    assertNoSecrets(run, secrets());
  });

  it('fetches through an AWS service connection that assumes a role (STS at the S3-compatible endpoint), masking the temporary credentials', async () => {
    const before = s3.stsCalls.length;
    const role = { username: s3.accessKeyId, password: s3.secretAccessKey, assumeRoleArn: ROLE, externalId: 'contoso-7f3a9c' };
    const run = await runTask({
      taskDir,
      inputs: { ...storeInputs(), awsCredentials: 'aws-role', modelPrefix: 'churn/', includePrereleases: 'true', destination: join(work, 'model') },
      endpoints: { 'aws-role': { scheme: 'UsernamePassword', parameters: role } },
      variables: { 'Build.BuildId': '5150' },
    });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.modelVersion, '2.1.0-rc.1');
    assert.deepEqual(s3.stsCalls.slice(before), [{ action: 'AssumeRole', status: 200 }]);
    assert.match(run.stdout, new RegExp(`Assumed role ${ROLE} \\(session azure-pipelines-5150\\) through AWS STS at ${s3.endpoint}`));
    const temporary = run.secretsRegistered.filter((secret) => secret.startsWith('IQoJb3JpZ2luX2VjE'));
    assert.equal(temporary.length, 1, 'the session token STS issued is registered as a secret');
    assertNoSecrets(run, [...Object.values(secrets()), ...run.secretsRegistered]);
  });

  it('fails an assumed role STS refuses, naming the role and the connection', async () => {
    const run = await runTask({
      taskDir,
      inputs: { ...storeInputs(), awsCredentials: 'aws-role', modelPrefix: 'churn/', includePrereleases: 'true', destination: join(work, 'model') },
      endpoints: { 'aws-role': { scheme: 'UsernamePassword', parameters: { username: s3.accessKeyId, password: s3.secretAccessKey, assumeRoleArn: ROLE, externalId: 'wrong-id' } } },
    });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message, new RegExp(`refused to let the credentials of service connection 'aws-role' \\(input 'awsCredentials'\\) assume role ${ROLE} \\(AccessDenied`));
    assert.deepEqual(readdirSync(work), []);
    assertNoSecrets(run, secrets());
  });

  it('fetches with temporary credentials (session token) and masks the token', async () => {
    const run = await runTask({
      taskDir,
      inputs: { ...storeInputs(temporary), awsAccessKeyId: temporary.accessKeyId, awsSecretAccessKey: temporary.secretAccessKey, awsSessionToken: temporary.sessionToken!, modelPrefix: 'fraud/', destination: join(work, 'model') },
    });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.modelVersion, '1.2.0');
    assert.ok(run.secretsRegistered.includes(temporary.sessionToken!));
    assertNoSecrets(run, secrets());
  });

  const failures: [string, () => Record<string, string>, RegExp][] = [
    ['a wrong secret key', () => ({ awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: 'Wrong/Secret+Key0123456789abcdefghijkl' }), /SignatureDoesNotMatch.*input 'awsSecretAccessKey'/],
    ['a missing bucket', () => ({ s3Bucket: 'absent-bucket', awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey }), /Bucket 'absent-bucket' was not found/],
    ['an invalid bucket name', () => ({ s3Bucket: 'Models_2026', awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey }), /Input 's3Bucket' is 'Models_2026'/],
    ['no credentials at all', () => ({}), /Source 's3' needs credentials/],
  ];
  for (const [title, inputs, message] of failures) {
    it(`fails cleanly on ${title}, with nothing written and no secret shown`, async () => {
      const given: Record<string, string> = { ...storeInputs(), modelPrefix: 'churn/', destination: join(work, 'model'), ...inputs() };
      const run = await runTask({ taskDir, inputs: given });
      assert.equal(run.result.status, 'Failed');
      assert.match(run.result.message, message);
      assert.deepEqual(readdirSync(work), []);
      assertNoSecrets(run, { ...secrets(), 'given secret': given.awsSecretAccessKey ?? '' });
    });
  }
});
