import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devOpsCredential, type DevOpsCredential } from '../../tasks/common/devops/credential';
import { RemoteError, SettingError } from '../../tasks/common/errors';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { openPipelineArtifactStore, type PipelineArtifactAccess } from '../../tasks/common/model/pipelineArtifactStore';
import { policyForRetries } from '../../tasks/common/net/retry';
import { fakeAgent } from '../support/fakeAgent';
import { settingFailure  } from '../support/fetchHarness';
import { randomBytes } from '../support/modelStore';
import { startPipelinesStandIn, type PipelinesStandIn } from '../support/pipelinesStandIn';
import { testServices } from '../support/services';
import { silentProgress } from '../../tasks/common/log';

const MiB = 1024 * 1024;

describe('fetchLatestModel from another organization\'s pipeline artifact (service connection PAT)', function () {
  this.timeout(60_000);
  const jobToken = `eyJ0eXAiOiJKV1Qi.${randomBytes(12).toString('hex')}`;
  const pat = randomBytes(39).toString('base64url').toLowerCase().slice(0, 52);
  const connection = '5b7f0c3e-2d4a-4c55-9d0e-6f1b2a3c4d5e';
  const weights = randomBytes(3 * MiB + 5);
  let devops: PipelinesStandIn;
  let work: string;

  before(async () => {
    devops = await startPipelinesStandIn({
      accessToken: jobToken,
      definitions: [{ id: 1, name: 'train-churn' }],
      runs: [{ id: 10, definitionId: 1, buildNumber: '1.0.0', finishTime: new Date('2026-01-01T00:00:00Z'), artifacts: { model: [{ name: 'own.bin', data: Buffer.from('job org') }] } }],
      otherOrganizations: [{
        organization: 'fabrikam',
        projectName: 'research',
        pat,
        definitions: [{ id: 3, name: 'train-churn' }],
        runs: [
          { id: 7000, definitionId: 3, buildNumber: '4.1.0', finishTime: new Date('2026-02-01T00:00:00Z'), artifacts: { model: [{ name: 'weights.bin', data: Buffer.from('old') }] } },
          { id: 7001, definitionId: 3, buildNumber: '4.2.0', finishTime: new Date('2026-02-02T00:00:00Z'), artifacts: { model: [{ name: 'weights.bin', data: weights }] } },
        ],
      }],
    });
  });
  after(async () => devops?.close());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-artifact-pat-'));
  });
  afterEach(() => {
    devops.setSignedDownloads(false);
    rmSync(work, { recursive: true, force: true });
  });

  const fabrikam = () => devops.organizations.fabrikam;
  const patCredential = (token = pat) => devOpsCredential('pat', token, connection);

  function access(credential: DevOpsCredential, overrides: Partial<PipelineArtifactAccess> = {}): PipelineArtifactAccess {
    return { collectionUri: fabrikam().collectionUri, project: 'research', credential, pipeline: 'train-churn', artifactName: 'model', run: { kind: 'latest' }, modelPrefix: '', scratchFolder: work, retry: policyForRetries(2, { baseDelayMs: 20 }), ...overrides };
  }

  async function fetch(artifact: PipelineArtifactAccess) {
    const agent = fakeAgent({});
    const context = { log: agent.log, progress: silentProgress, ...testServices() };
    const store = await openPipelineArtifactStore(artifact, context);
    try {
      return await fetchLatestModel(store, { prefix: '', rule: { kind: 'highestVersion' }, includePrereleases: false, destination: join(work, 'model'), verifyIntegrity: true, download: { concurrency: 4, blockSize: MiB, retry: policyForRetries(2, { baseDelayMs: 20 }), idleTimeoutMs: 10_000 }, timeoutMs: 30_000 }, context);
    } finally {
      await store.close?.();
    }
  }

  it('fetches from another organization and project, sending the PAT as Basic to the API and the artifact host', async () => {
    const before = devops.requests.length;
    const model = await fetch(access(patCredential()));
    assert.equal(model.version, '4.2.0');
    assert.equal(model.uri, 'azure-pipelines://research/train-churn/7001/model');
    assert.ok(readFileSync(join(model.path, 'weights.bin')).equals(weights));
    const seen = devops.requests.slice(before);
    assert.ok(seen.some((request) => request.host === 'artifacts' && request.status === 200), 'the zip came from the artifact host');
    assert.ok(seen.every((request) => request.path.startsWith('/fabrikam/') && request.auth === 'basic' && request.status < 400), JSON.stringify(seen));
  });

  it('takes the project by id as well as by name', async () => {
    const model = await fetch(access(patCredential(), { project: fabrikam().projectId, run: { kind: 'pinned', runId: 7000 } }));
    assert.equal(model.version, '4.1.0');
  });

  for (const [title, credential, base] of [
    ['a service connection PAT', () => patCredential(), () => access(patCredential())],
    ["the job's access token", () => devOpsCredential('bearer', jobToken), () => ({ ...access(patCredential()), collectionUri: devops.collectionUri, project: devops.projectName, artifactName: 'model' })],
  ] as const) {
    it(`follows a signed download redirect with ${title}, and never sends it to the signed host`, async () => {
      devops.setSignedDownloads(true);
      const before = devops.requests.length;
      await fetch({ ...base(), credential: credential() });
      const signed = devops.requests.slice(before).filter((request) => request.host === 'signed');
      assert.ok(signed.length > 0 && signed.every((request) => request.auth === 'none' && request.status === 200), JSON.stringify(signed));
    });
  }

  describe('refusals', () => {
    const noSecrets = (error: unknown) => {
      const text = String((error as Error).message);
      assert.ok(!text.includes(pat) && !text.includes(jobToken) && !text.includes(Buffer.from(`PAT:${pat}`).toString('base64')));
    };

    it('a wrong PAT: 401, naming the service connection and input azureDevOpsConnection', async () => {
      const refused = settingFailure({ setting: 'devopsConnection', key: 'DevOpsConnectionUnauthorized', run: 'pipelineArtifactConnection', input: 'azureDevOpsConnection', message: new RegExp(`service connection '${connection}' \\(input 'azureDevOpsConnection'\\).*HTTP 401`) });
      await assert.rejects(fetch(access(patCredential(randomBytes(26).toString('hex')))), (error: unknown) => {
        noSecrets(error);
        return refused(error);
      });
      assert.deepEqual(readdirSync(work), []);
    });

    it("the PAT of one organization is refused by another (the job's)", async () => {
      await assert.rejects(fetch({ ...access(patCredential()), collectionUri: devops.collectionUri, project: devops.projectName }), (error: unknown) => error instanceof SettingError && error.key === 'DevOpsConnectionUnauthorized');
    });

    it("the job's access token is refused by another organization, naming the job's token", async () => {
      await assert.rejects(fetch(access(devOpsCredential('bearer', jobToken))), (error: unknown) => {
        assert.ok(error instanceof RemoteError && error.key === 'DevOpsUnauthorized', String(error));
        assert.match(error.message, /refused the job's access token/);
        noSecrets(error);
        return true;
      });
    });

    it('a project the organization does not have names the pipeline and the project', async () => {
      await assert.rejects(fetch(access(patCredential(), { project: 'no-such-project' })), settingFailure({ setting: 'pipeline', key: 'PipelineNotFound', run: 'pipelineArtifactConnection', input: 'pipeline', message: /^Input 'pipeline' is 'train-churn'.*no-such-project/ }));
    });
  });
});
