/**
 * The bundled Fetch from S3 in the agent's surroundings: behind the agent's authenticating proxy
 * (access keys, and an assumed role through STS), with a bypass list, cancelled by the agent in
 * the middle of a download, and given inputs that must not be echoed or accepted.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForwardProxy } from '../support/forwardProxy';
import { assertCleanFailure, assertOnlyOwnCommands } from '../support/hostileChecks';
import { randomBytes } from '../support/modelStore';
import { S3Publisher, startS3, type S3Server } from '../support/s3';
import { startTcpProxy } from '../support/tcpProxy';
import { assertNoSecrets, runTask, type TaskRun, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const ROLE = 'arn:aws:iam::123456789012:role/model-reader';
const MiB = 1024 * 1024;

describe('FetchLatestModel e2e from S3: the agent\'s proxy, its cancel, inputs it must not echo', function () {
  this.timeout(120_000);
  let s3: S3Server;
  let work: string;
  const weights = randomBytes(6 * MiB + 1);
  const proxyPassword = `pr0xy-${randomBytes(6).toString('hex')}`;

  before(async () => {
    s3 = await startS3({ sts: { roles: [{ arn: ROLE }] } });
    await (await new S3Publisher(s3, 'models').create()).publish('churn/2.0.0/weights.bin', weights);
  });
  after(async () => s3?.stop());
  beforeEach(() => (work = mkdtempSync(join(tmpdir(), 'fetch-s3-agent-'))));
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const inputs = (endpoint = s3.endpoint) => ({ source: 's3', s3Bucket: 'models', s3Endpoint: endpoint, s3ForcePathStyle: 'true', modelPrefix: 'churn/', destination: join(work, 'model') });
  const keys = () => ({ awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey });
  const proxyVariables = (proxy: ForwardProxy, bypass: string[] = []) => ({
    variables: { 'Agent.ProxyUrl': proxy.url, 'Agent.ProxyUsername': 'build', 'Agent.ProxyBypassList': JSON.stringify(bypass) },
    secretVariables: { 'Agent.ProxyPassword': proxyPassword },
  });
  const secrets = () => ({ 'secret access key': s3.secretAccessKey, 'proxy password': proxyPassword });

  /**
   * task-lib prints Agent.ProxyPassword in a debug line as it loads (before any task code runs);
   * the agent masks that value, which it registered as a secret itself. Anywhere else it is a leak.
   */
  const withoutTaskLibProxyEcho = (run: TaskRun): TaskRun => ({ ...run, stdout: run.stdout.split('\n').filter((line) => !line.startsWith('##vso[task.debug]Agent.ProxyPassword=')).join('\n') });

  it('reaches S3 through the agent\'s authenticating proxy with access keys', async () => {
    const proxy = await ForwardProxy.start({ username: 'build', password: proxyPassword });
    try {
      const run = await runTask({ taskDir, inputs: { ...inputs(), ...keys() }, ...proxyVariables(proxy) });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.ok(readFileSync(join(work, 'model', 'weights.bin')).equals(weights));
      assert.deepEqual([...proxy.peers()], [`127.0.0.1:${s3.port}`]);
      assert.ok(proxy.requests.some((request) => request.method === 'GET' && /list-type=2/.test(request.target)), 'the listing went through the proxy');
      assert.ok(proxy.requests.filter((request) => request.method === 'GET' && /weights\.bin/.test(request.target)).length >= 1, 'so did the ranged reads');
      assertNoSecrets(withoutTaskLibProxyEcho(run), secrets());
      assertOnlyOwnCommands(run, taskDir);
    } finally {
      await proxy.close();
    }
  });

  it('reaches STS and S3 through the proxy when the connection assumes a role', async () => {
    const proxy = await ForwardProxy.start({ username: 'build', password: proxyPassword });
    try {
      const endpoints = { 'aws-role': { scheme: 'UsernamePassword', parameters: { username: s3.accessKeyId, password: s3.secretAccessKey, assumeRoleArn: ROLE } } };
      const run = await runTask({ taskDir, inputs: { ...inputs(), awsCredentials: 'aws-role' }, endpoints, ...proxyVariables(proxy) });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.ok(proxy.requests.some((request) => request.method === 'POST' && new URL(request.target).pathname === '/'), 'AssumeRole went through the proxy');
      assert.deepEqual([...proxy.peers()], [`127.0.0.1:${s3.port}`]);
      assertNoSecrets(withoutTaskLibProxyEcho(run), { ...secrets(), ...Object.fromEntries(run.secretsRegistered.map((secret, i) => [`registered #${i}`, secret])) });
    } finally {
      await proxy.close();
    }
  });

  it('goes direct to a host on the bypass list', async () => {
    const proxy = await ForwardProxy.start({ username: 'build', password: proxyPassword });
    try {
      const run = await runTask({ taskDir, inputs: { ...inputs(), ...keys() }, ...proxyVariables(proxy, [`^http://127\\.0\\.0\\.1:${s3.port}/`]) });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.deepEqual(proxy.requests, [], 'nothing passed through the proxy');
    } finally {
      await proxy.close();
    }
  });

  it('stops on the agent\'s SIGTERM in the middle of the download, leaves no staging, and the next run succeeds', async () => {
    const slow = await startTcpProxy({ targetPort: s3.port, bytesPerSecondPerConnection: 256 * 1024 });
    try {
      const run = await runTask({ taskDir, inputs: { ...inputs(`http://127.0.0.1:${slow.port}`), ...keys(), concurrency: '2', blockSizeMiB: '1' }, cancelWhen: { line: /^Downloading weights\.bin: \d+%/ } });
      assert.equal(run.result.status, 'Cancelled', visibleOutput(run));
      assert.match(run.result.message, /cancelled/);
      assert.ok(!existsSync(join(work, 'model')));
      assert.deepEqual(readdirSync(work).filter((name) => name.includes('.partial-')), [], 'the staging folder went with the cancel');
      assertOnlyOwnCommands(run, taskDir);
    } finally {
      await slow.close();
    }
    const again = await runTask({ taskDir, inputs: { ...inputs(), ...keys() } });
    assert.equal(again.result.status, 'Succeeded', visibleOutput(again));
    assert.ok(readFileSync(join(work, 'model', 'weights.bin')).equals(weights));
  });

  it('never echoes the user info of an s3Endpoint under System.Debug, and refuses it naming the input', async () => {
    const userInfo = { user: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secret: `s3cr3t-${randomBytes(8).toString('hex')}` };
    const endpoint = `http://${userInfo.user}:${userInfo.secret}@127.0.0.1:${s3.port}`;
    const run = await runTask({ taskDir, inputs: { ...inputs(endpoint), ...keys() }, variables: { 'System.Debug': 'true' } });
    assertCleanFailure(run, { taskDir, names: /s3Endpoint/, secrets: { ...secrets(), 'endpoint user': userInfo.user, 'endpoint secret': userInfo.secret, endpoint }, absent: [join(work, 'model')] });
  });

  it('refuses /etc as destination, naming the input and the system folder', async () => {
    const run = await runTask({ taskDir, inputs: { ...inputs(), ...keys(), destination: '/etc' } });
    assertCleanFailure(run, { taskDir, names: /Input 'destination' is '\/etc', which is or lies in the system folder \/etc/, secrets: secrets() });
  });
});
