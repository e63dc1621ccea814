import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SettingError } from '../../tasks/common/errors';
import type { RunSelection } from '../../tasks/common/devops/builds';
import { devOpsCredential } from '../../tasks/common/devops/credential';
import { RemoteError, TaskError } from '../../tasks/common/errors';
import type { MessageKey } from '../../tasks/common/messages';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { openPipelineArtifactStore, type PipelineArtifactAccess } from '../../tasks/common/model/pipelineArtifactStore';
import { policyForRetries } from '../../tasks/common/net/retry';
import { fakeAgent } from '../support/fakeAgent';
import { settingFailure  } from '../support/fetchHarness';
import { randomBytes, sha256 } from '../support/modelStore';
import { startPipelinesStandIn, type PipelinesStandIn, type RunSpec } from '../support/pipelinesStandIn';
import { startTcpProxy } from '../support/tcpProxy';
import { testServices } from '../support/services';
import { silentProgress } from '../../tasks/common/log';

const MiB = 1024 * 1024;
const day = (n: number) => new Date(Date.UTC(2026, 0, n, 12));

describe('fetchLatestModel from Azure Pipelines artifacts (Build REST stand-in)', function () {
  this.timeout(60_000);
  const token = `eyJ0eXAiOiJKV1Qi.${randomBytes(12).toString('hex')}`;
  const modelOf = (seed: string) => [{ name: 'weights.bin', data: Buffer.from(`weights of ${seed}`) }, { name: 'config/settings.json', data: Buffer.from(`{"run":"${seed}"}`) }];
  const big = randomBytes(5 * MiB + 3);
  const runs: RunSpec[] = [
    { id: 101, definitionId: 7, buildNumber: '20260101.1', finishTime: day(1), artifacts: { model: modelOf('101') } },
    { id: 102, definitionId: 7, buildNumber: '20260102.1', finishTime: day(2), tags: ['approved'], artifacts: { model: modelOf('102'), reports: [{ name: 'r.html', data: Buffer.from('r') }] } },
    { id: 103, definitionId: 7, buildNumber: '20260103.1', finishTime: day(3), result: 'failed', artifacts: { model: modelOf('103') } },
    { id: 104, definitionId: 7, buildNumber: '20260104.1', finishTime: day(4), branch: 'refs/heads/feature/x', artifacts: { model: modelOf('104') } },
    { id: 105, definitionId: 7, buildNumber: '20260105.1', finishTime: day(5), status: 'inProgress', artifacts: {} },
    { id: 200, definitionId: 8, buildNumber: '2.0.0', finishTime: day(1), artifacts: { model: modelOf('200') } },
    { id: 201, definitionId: 8, buildNumber: '2.0.1', finishTime: day(2), artifacts: { reports: [{ name: 'r.html', data: Buffer.from('r') }] } },
    { id: 300, definitionId: 9, buildNumber: '20260110.4', finishTime: day(1), artifacts: { model: [{ name: 'bundle/VERSION', data: Buffer.from('3.1.0\n') }, { name: 'bundle/model.onnx', data: Buffer.from('onnx') }, { name: 'docs/x.md', data: Buffer.from('x') }] } },
    { id: 400, definitionId: 10, buildNumber: '1.0.400', finishTime: day(1), artifacts: { model: [{ name: 'big.bin', data: big, method: 'store' }] } },
    { id: 500, definitionId: 13, buildNumber: 'nightly build', finishTime: day(1), artifacts: { model: modelOf('500') } },
    { id: 600, definitionId: 14, buildNumber: 'churn-3.0.0-rc.1', finishTime: day(1), artifacts: { model: modelOf('600') } },
    { id: 700, definitionId: 15, buildNumber: '1.0.700', finishTime: day(1), artifacts: { model: modelOf('700') }, reportedSize: 2 ** 50 },
  ];
  let devops: PipelinesStandIn;
  let work: string;

  before(async () => {
    devops = await startPipelinesStandIn({
      accessToken: token,
      definitions: [{ id: 7, name: 'train-churn', path: '\\ml' }, { id: 8, name: 'train-fraud' }, { id: 9, name: 'train-versioned' }, { id: 10, name: 'train-big' }, { id: 11, name: 'twin', path: '\\a' }, { id: 12, name: 'twin', path: '\\b' }, { id: 13, name: 'nightly' }, { id: 14, name: 'train-candidate' }, { id: 15, name: 'train-huge' }],
      runs,
    });
  });
  after(async () => devops?.close());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-artifact-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  function access(overrides: Partial<PipelineArtifactAccess> & { run?: RunSelection } = {}): PipelineArtifactAccess {
    return { collectionUri: devops.collectionUri, project: devops.projectId, credential: devOpsCredential('bearer', token), pipeline: 'train-churn', artifactName: 'model', run: { kind: 'latest' }, modelPrefix: '', scratchFolder: work, retry: policyForRetries(3, { baseDelayMs: 20 }), ...overrides };
  }

  async function fetch(overrides: Partial<PipelineArtifactAccess> = {}, includePrereleases = false) {
    const agent = fakeAgent({});
    const context = { log: agent.log, progress: silentProgress, ...testServices() };
    const store = await openPipelineArtifactStore(access(overrides), context);
    try {
      const model = await fetchLatestModel(store, { prefix: '', rule: { kind: 'highestVersion' }, includePrereleases, destination: join(work, 'model'), verifyIntegrity: true, download: { concurrency: 4, blockSize: MiB, retry: policyForRetries(2, { baseDelayMs: 20 }), idleTimeoutMs: 10_000 }, timeoutMs: 30_000 }, context);
      return { model, agent };
    } finally {
      await store.close?.();
    }
  }

  function holds(folder: string): Record<string, string> {
    return Object.fromEntries(readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => [join(e.parentPath, e.name).slice(folder.length + 1), readFileSync(join(e.parentPath, e.name), 'utf8')]));
  }

  it('takes the newest successful run of the pipeline, whatever its branch, and outputs its build number as version', async () => {
    const { model } = await fetch();
    assert.equal(model.version, '20260104.1');
    assert.deepEqual(holds(model.path), { 'weights.bin': 'weights of 104', 'config/settings.json': '{"run":"104"}' });
    assert.equal(model.uri, `azure-pipelines://models/train-churn/104/model`);
    assert.equal(model.name, 'model');
    const listing = [['config/settings.json', '{"run":"104"}'], ['weights.bin', 'weights of 104']].map(([path, text]) => `${sha256(text)}  ${path}\n`).join('');
    assert.equal(model.digest, `sha256:${sha256(listing)}`);
    const list = devops.requests.find((request) => request.path.endsWith('/_apis/build/builds') && request.status === 200)!;
    const query = new URLSearchParams(list.query);
    assert.equal(query.get('statusFilter'), '2', 'completed');
    assert.equal(query.get('resultFilter'), '2', 'succeeded');
    assert.equal(query.get('queryOrder'), '3', 'finishTimeDescending');
  });

  it('narrows to a branch and to a run tag', async () => {
    assert.equal((await fetch({ branch: 'refs/heads/main' })).model.version, '20260102.1');
    rmSync(join(work, 'model'), { recursive: true });
    assert.equal((await fetch({ runTag: 'approved' })).model.version, '20260102.1');
    const tagged = devops.requests.filter((request) => request.path.endsWith('/builds')).map((request) => new URLSearchParams(request.query));
    assert.ok(tagged.some((query) => query.get('branchName') === 'refs/heads/main'));
    assert.ok(tagged.some((query) => query.get('tagFilters') === 'approved'));
  });

  it('takes a pinned run by id, even an older one', async () => {
    const { model } = await fetch({ run: { kind: 'pinned', runId: 101 } });
    assert.equal(model.version, '20260101.1');
    assert.equal(holds(model.path)['weights.bin'], 'weights of 101');
  });

  it('skips a run whose version is a pre-release unless pre-releases are included', async () => {
    await assert.rejects(fetch({ pipeline: 'train-candidate' }), (error: unknown) => error instanceof SettingError && error.setting === 'includePrereleases' && /Pre-releases skipped: 3\.0\.0-rc\.1\./.test(error.message));
    assert.deepEqual(readdirSync(work).filter((name) => !name.startsWith('artifact')), [], 'nothing is installed');
    const { model } = await fetch({ pipeline: 'train-candidate' }, true);
    assert.equal(model.version, '3.0.0-rc.1');
    assert.equal(holds(model.path)['weights.bin'], 'weights of 600');
  });

  it('walks back to the newest successful run that published the artifact', async () => {
    const { model } = await fetch({ pipeline: 'train-fraud' });
    assert.equal(model.version, '2.0.0');
  });

  it('uses the VERSION file over the build number, and fetches only the folder under modelPrefix', async () => {
    const { model } = await fetch({ pipeline: '9', modelPrefix: 'bundle/' });
    assert.equal(model.version, '3.1.0');
    assert.deepEqual(holds(model.path), { VERSION: '3.1.0\n', 'model.onnx': 'onnx' });
    assert.equal(model.uri, 'azure-pipelines://models/train-versioned/300/model/bundle');
  });

  it('resumes the zip download with a Range request after a cut connection', async () => {
    const proxy = await startTcpProxy({ targetPort: devops.artifactPort, cut: { afterBytes: 2 * MiB, maxCuts: 2 } });
    devops.setDownloadOrigin(`http://127.0.0.1:${proxy.port}`);
    try {
      const { model, agent } = await fetch({ pipeline: 'train-big' });
      assert.ok(proxy.cuts >= 1);
      assert.ok(readFileSync(join(model.path, 'big.bin')).equals(big));
      assert.ok(devops.requests.some((request) => request.host === 'artifacts' && request.status === 206 && /^bytes=\d+-$/.test(request.range ?? '')), 'a ranged resume was served');
      assert.ok(agent.lines.some((line) => /resuming where it stopped/.test(line)));
    } finally {
      devops.setDownloadOrigin(`http://127.0.0.1:${devops.artifactPort}`);
      await proxy.close();
    }
  });

  it('restarts the zip from the start when the service ignores Range, and retries 503s', async () => {
    const proxy = await startTcpProxy({ targetPort: devops.artifactPort, cut: { afterBytes: 1 * MiB, maxCuts: 1 } });
    devops.setDownloadOrigin(`http://127.0.0.1:${proxy.port}`);
    devops.setRangeSupport(false);
    devops.failDownloads(2, 503);
    try {
      const { model } = await fetch({ pipeline: 'train-big' });
      assert.ok(readFileSync(join(model.path, 'big.bin')).equals(big));
    } finally {
      devops.setRangeSupport(true);
      devops.setDownloadOrigin(`http://127.0.0.1:${devops.artifactPort}`);
      await proxy.close();
    }
  });

  it('refuses an artifact the service reports larger than the free disk before downloading a byte of it', async () => {
    const downloadsBefore = devops.requests.filter((request) => request.host !== 'api').length;
    await assert.rejects(fetch({ pipeline: 'train-huge' }), (error: unknown) => {
      assert.ok(error instanceof TaskError && error.key === 'ArtifactTooLargeForDisk', String(error));
      assert.match(error.message, /azure-pipelines:\/\/.*train-huge\/700\/model is 1024\.0 TB, but .* has only .* free/);
      return true;
    });
    assert.equal(devops.requests.filter((request) => request.host !== 'api').length, downloadsBefore, 'the zip was requested');
    assert.deepEqual(readdirSync(work).filter((name) => !name.startsWith('.')), []);
  });

  it('removes its scratch folder when closed', async () => {
    await fetch();
    assert.deepEqual(readdirSync(work).filter((name) => name.startsWith('pipeline-artifact-')), []);
    assert.ok(existsSync(join(work, 'model')));
  });

  describe('refusals', () => {
    const pipelineFailure = (setting: string, key: MessageKey, input: string, message: RegExp) => settingFailure({ setting, key, run: 'pipelineArtifact', input, message });
    const cases: [string, Partial<PipelineArtifactAccess>, (error: unknown) => boolean][] = [
      ['a wrong access token', { credential: devOpsCredential('bearer', 'not-the-token') }, (e) => e instanceof RemoteError && e.key === 'DevOpsUnauthorized'],
      ['an unknown pipeline', { pipeline: 'train-nothing' }, pipelineFailure('pipeline', 'PipelineNotFound', 'pipeline', /^Input 'pipeline' is 'train-nothing'/)],
      ['a name two pipelines share', { pipeline: 'twin' }, pipelineFailure('pipeline', 'PipelineAmbiguous', 'pipeline', /^Input 'pipeline' is 'twin'.*\\a\\twin \(id 11\).*\\b\\twin \(id 12\)/)],
      ['a pinned run without the artifact', { artifactName: 'reports', run: { kind: 'pinned', runId: 101 } }, pipelineFailure('artifactName', 'PipelineArtifactNotFound', 'artifactName', /^Input 'artifactName' is 'reports'.*Its artifacts: model/)],
      ['a pinned run of another pipeline', { run: { kind: 'pinned', runId: 200 } }, pipelineFailure('pipelineRun', 'PipelineRunOfOtherPipeline', 'version', /^Input 'version' is run 200.*train-fraud/)],
      ['a pinned run still in progress', { run: { kind: 'pinned', runId: 105 } }, pipelineFailure('pipelineRun', 'PipelineRunNotCompleted', 'version', /^Input 'version' is run 105.*not completed/)],
      ['a pinned run that does not exist', { run: { kind: 'pinned', runId: 999 } }, pipelineFailure('pipelineRun', 'PipelineRunNotFound', 'version', /^Input 'version' is 999/)],
      ['a branch without successful runs', { branch: 'refs/heads/nope' }, (e) => e instanceof TaskError && e.key === 'PipelineNoSuccessfulRun' && /refs\/heads\/nope/.test(e.message)],
      ['an artifact no recent run published', { artifactName: 'nothing' }, (e) => e instanceof TaskError && e.key === 'PipelineArtifactNotInRuns'],
      ['a build number without a version', { pipeline: 'nightly' }, (e) => e instanceof TaskError && e.key === 'PipelineBuildNumberNoVersion' && /VERSION/.test(e.message)],
      ['a model prefix the artifact does not have', { modelPrefix: 'churn/' }, (e) => e instanceof TaskError && e.key === 'PipelineArtifactEmpty' && /churn\//.test(e.message)],
    ];
    for (const [title, overrides, check] of cases) {
      it(`fails clearly on ${title}, with nothing written`, async () => {
        await assert.rejects(fetch(overrides), (error: unknown) => {
          assert.ok(check(error), `unexpected: ${error}`);
          assert.ok(!String((error as Error).message).includes(token));
          return true;
        });
        assert.deepEqual(readdirSync(work).filter((name) => !name.startsWith('.')), []);
      });
    }
  });
});
