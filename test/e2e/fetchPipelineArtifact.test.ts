import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, sha256 } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { startPipelinesStandIn, type PipelinesStandIn } from '../support/pipelinesStandIn';
import { assertNoSecrets, runTask, visibleOutput, type RunTaskOptions } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');

describe('FetchLatestModel e2e from an Azure Pipelines artifact (Build REST stand-in)', function () {
  this.timeout(120_000);
  const token = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${randomBytes(24).toString('base64url')}`;
  const pat = randomBytes(39).toString('base64url').toLowerCase().slice(0, 52);
  const wrongPat = randomBytes(39).toString('base64url').toLowerCase().slice(0, 52);
  const basicOf = (value: string) => Buffer.from(`PAT:${value}`).toString('base64');
  const secrets = () => ({ 'System.AccessToken': token, PAT: pat, 'PAT as Basic': basicOf(pat), 'wrong PAT': wrongPat, 'wrong PAT as Basic': basicOf(wrongPat) });
  const weights = randomBytes(2 * 1024 * 1024 + 9);
  let devops: PipelinesStandIn;
  let work: string;

  before(async () => {
    devops = await startPipelinesStandIn({
      accessToken: token,
      definitions: [{ id: 31, name: 'train churn' }],
      runs: [
        { id: 900, definitionId: 31, buildNumber: '20260201.1', finishTime: new Date('2026-02-01T10:00:00Z'), tags: ['approved'], artifacts: { model: [{ name: 'weights.bin', data: weights }, { name: 'labels.txt', data: Buffer.from('yes\nno\n') }] } },
        { id: 901, definitionId: 31, buildNumber: '20260202.1', finishTime: new Date('2026-02-02T10:00:00Z'), artifacts: { model: [{ name: 'weights.bin', data: Buffer.from('newer, not approved') }] } },
      ],
      otherOrganizations: [{
        organization: 'fabrikam',
        projectName: 'Research',
        pat,
        definitions: [{ id: 5, name: 'train churn' }],
        runs: [{ id: 77, definitionId: 5, buildNumber: '3.2.1', finishTime: new Date('2026-02-03T10:00:00Z'), artifacts: { model: [{ name: 'weights.bin', data: weights }] } }],
      }],
    });
  });
  after(async () => devops?.close());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-artifact-e2e-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  /** The job's connection as the agent gives it: the SystemVssConnection endpoint and System.* variables. */
  const job = (accessToken = token): Pick<RunTaskOptions, 'endpoints' | 'variables'> => ({
    endpoints: { SystemVssConnection: { url: devops.collectionUri, scheme: 'OAuth', parameters: { AccessToken: accessToken } } },
    variables: { 'System.TeamProjectId': devops.projectId, 'System.CollectionUri': devops.collectionUri },
  });

  for (const { handler, nodePath } of handlerNodes()) {
    it(`fetches the newest approved run's artifact under ${handler}, and never shows the access token`, async () => {
      const destination = join(work, 'model');
      const run = await runTask({ taskDir, nodePath, ...job(), inputs: { source: 'pipelineArtifact', pipeline: 'train churn', artifactName: 'model', runTag: 'approved', destination } });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '20260201.1');
      assert.equal(run.outputs.modelUri, 'azure-pipelines://models/train%20churn/900/model');
      assert.equal(run.outputs.modelName, 'model');
      assert.equal(run.outputs.modelDigest, `sha256:${sha256(`${sha256('yes\nno\n')}  labels.txt\n${sha256(weights)}  weights.bin\n`)}`);
      assert.ok(readFileSync(join(destination, 'weights.bin')).equals(weights));
      assert.deepEqual(readdirSync(work).sort(), ['.model.fetch-latest-model', 'model'], 'no scratch or staging folder is left, only the install marker');
      assert.ok(run.secretsRegistered.includes(token), 'the access token is registered as a secret');
      assertNoSecrets(run, { 'System.AccessToken': token });
    });
  }

  it('reads System.AccessToken from the secret variable when there is no SystemVssConnection', async () => {
    const run = await runTask({
      taskDir,
      inputs: { source: 'pipelineArtifact', pipeline: '31', artifactName: 'model', selection: 'pinned', version: '901', destination: join(work, 'model') },
      variables: { 'System.TeamProjectId': devops.projectId, 'System.CollectionUri': devops.collectionUri },
      secretVariables: { 'System.AccessToken': token },
    });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.modelVersion, '20260202.1');
    assertNoSecrets(run, { 'System.AccessToken': token });
  });

  /** An Azure Repos/Team Foundation Server connection (ExternalTfs), as the agent gives it: URL and scheme Token with apitoken. */
  const fabrikam = (apitoken = pat): Pick<RunTaskOptions, 'endpoints' | 'variables'> => ({
    endpoints: { ...job().endpoints, 'fabrikam-models': { url: devops.organizations.fabrikam.collectionUri.replace(/\/$/, ''), scheme: 'Token', parameters: { apitoken } } },
    variables: job().variables,
  });

  it('fetches from another organization through an Azure DevOps service connection (PAT), signed download included, leaking neither form of the PAT', async () => {
    devops.setSignedDownloads(true);
    try {
      const destination = join(work, 'model');
      const run = await runTask({ taskDir, ...fabrikam(), inputs: { source: 'pipelineArtifact', azureDevOpsConnection: 'fabrikam-models', project: 'Research', pipeline: 'train churn', artifactName: 'model', destination } });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '3.2.1');
      assert.equal(run.outputs.modelUri, 'azure-pipelines://Research/train%20churn/77/model');
      assert.ok(readFileSync(join(destination, 'weights.bin')).equals(weights));
      assert.ok(run.secretsRegistered.includes(pat) && run.secretsRegistered.includes(basicOf(pat)), 'the PAT and its Basic form are registered as secrets');
      const fabrikamCalls = devops.requests.filter((request) => request.path.startsWith('/fabrikam/'));
      assert.ok(fabrikamCalls.length > 0 && fabrikamCalls.every((request) => request.auth === 'basic'));
      assert.ok(devops.requests.some((request) => request.host === 'signed' && request.auth === 'none' && request.status === 200));
      assertNoSecrets(run, secrets());
    } finally {
      devops.setSignedDownloads(false);
    }
  });

  const failures: [string, () => Partial<RunTaskOptions>, RegExp][] = [
    ['an access token Azure DevOps refuses', () => ({ ...job('stale-token-0123456789'), inputs: { pipeline: 'train churn', artifactName: 'model' } }), /refused the job's access token/],
    ['a job without an access token', () => ({ variables: job().variables, inputs: { pipeline: 'train churn', artifactName: 'model' } }), /System\.AccessToken.*Allow scripts to access the OAuth token/],
    ['selection tagQuery', () => ({ ...job(), inputs: { pipeline: 'train churn', artifactName: 'model', selection: 'tagQuery', tagQuery: `"a" = 'b'` } }), /'tagQuery', which source 'pipelineArtifact' does not support; use input runTag/],
    ['a pinned version that is not a run id', () => ({ ...job(), inputs: { pipeline: 'train churn', artifactName: 'model', selection: 'pinned', version: '1.2.0' } }), /Input 'version' is '1\.2\.0'.*run id/],
    ['a PAT Azure DevOps refuses', () => ({ ...fabrikam(wrongPat), inputs: { azureDevOpsConnection: 'fabrikam-models', project: 'Research', pipeline: 'train churn', artifactName: 'model' } }), /refused the personal access token of service connection 'fabrikam-models' \(input 'azureDevOpsConnection'\).*HTTP 401/],
    ['a service connection without a project', () => ({ ...fabrikam(), inputs: { azureDevOpsConnection: 'fabrikam-models', pipeline: 'train churn', artifactName: 'model' } }), /Input 'project' is required when azureDevOpsConnection is set/],
  ];
  for (const [title, options, message] of failures) {
    it(`fails clearly on ${title}, leaking nothing`, async () => {
      const given = options();
      const run = await runTask({ taskDir, ...given, inputs: { source: 'pipelineArtifact', destination: join(work, 'model'), ...given.inputs } });
      assert.equal(run.result.status, 'Failed');
      assert.match(run.result.message, message);
      assert.deepEqual(readdirSync(work), []);
      assertNoSecrets(run, { ...secrets(), 'stale token': 'stale-token-0123456789' });
    });
  }
});
