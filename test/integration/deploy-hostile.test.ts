/**
 * The Deploy core against hostile and broken API servers (a front before the cluster simulator):
 * one that never answers, one that trickles, one that goes silent mid-rollout, one that throttles
 * with Retry-After, one that sends an endless watch line; and the kubeconfig's own commands and
 * proxy: an exec plugin that works, one that fails, an auth-provider cmd-path (refused, never run),
 * a cluster proxy-url through a recording proxy, a socks one refused. Each case checks the error
 * names the server or the input, that no credential is in it, and what the cluster holds after.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TaskError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { OwnedLifetime } from '../../tasks/common/lifetime';
import type { Log } from '../../tasks/common/log';
import { ensureNamespace } from '../../tasks/common/kube/apply';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import { type DeployRequest, deployApp, RolloutFailedError } from '../../tasks/common/kube/deploy';
import { StoppedError } from '../../tasks/common/net/errors';
import { Network } from '../../tasks/common/net/network';
import { networkSettings } from '../../tasks/common/net/settings';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { type HostileFront, startHostileFront } from '../support/cluster/hostileFront';
import { ForwardProxy } from '../support/forwardProxy';
import { createTestCa } from '../support/tls';
import { recordingLog, rejection } from '../support/capture';
import { reportedByDeploy } from '../support/deployFailures';
import { testNetwork } from '../support/services';

const TOKEN = `hostile-kube-token-${Math.random().toString(36).slice(2)}`;
const REPO = 'example.azurecr.io/churn';

function request(namespace: string, image: string, more: Partial<DeployRequest> = {}): DeployRequest {
  return {
    namespace, image, createNamespace: true, rollbackOnFailure: true, rolloutTimeoutMs: 1500, loadBalancerTimeoutMs: 5000,
    workload: { kind: 'generated', app: { appName: 'churn', replicas: 1, containerPort: 8080, servicePort: 8080, serviceType: 'ClusterIP', readinessPath: '/', env: {}, annotations: {} } },
    ...more,
  };
}

describe('deploy core against hostile API servers', function () {
  this.timeout(60_000);
  let sim: ClusterSimulator;
  let front: HostileFront;
  let lines: string[];
  let log: Log;
  const stops: (() => unknown)[] = [];
  const host = () => new URL(front.url).host.replace(/\./g, '\\.');

  before(async () => {
    sim = await startClusterSimulator({ auth: { token: TOKEN }, podReadyDelayMs: 50, imageBehaviour: (image) => (image.endsWith(':missing') ? 'pullError' : 'run') });
    front = await startHostileFront(sim, { kind: 'forward' });
  });
  after(async () => {
    await front?.close();
    await sim?.stop();
  });
  beforeEach(() => {
    lines = [];
    log = recordingLog(lines);
    front.setMode({ kind: 'forward' });
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    for (const line of lines) assert.ok(!line.includes(TOKEN), `the token leaked: ${line}`);
  });

  const connect = (kubeconfig = front.kubeconfig(), signal?: AbortSignal): Cluster => {
    const cluster = connectCluster(kubeconfig, { network: testNetwork, signal });
    stops.push(() => cluster.close());
    return cluster;
  };

  for (const mode of [{ kind: 'silent' } as const, { kind: 'trickle', intervalMs: 100 } as const]) {
    it(`ends soon after rolloutTimeoutMs when the API server ${mode.kind === 'silent' ? 'never answers' : 'trickles'}, naming the server`, async () => {
      front.setMode(mode);
      // The message names the rollout's own 2 s limit: that deadline ended the run, not a per-request one.
      const error = await rejection(deployApp(request('silence', `${REPO}:v1`), { cluster: connect(), log, network: testNetwork }));
      assert.ok(error instanceof TaskError, String(error));
      assert.equal(error.key, 'KubeApiStopped');
      assert.match(error.message, new RegExp(`API server at https://${host()} could not read namespace 'silence' in time: applying and rolling out deployment 'churn' \\(rolloutTimeoutSeconds, 2 s\\) did not finish within 2 seconds`));
      assert.ok(!error.message.includes(TOKEN));
      assert.equal(sim.get('Namespace', '', 'silence'), undefined, 'nothing was applied');
    });
  }

  it('names the kinds it was rolling out when a silent API server cuts the rollout phase (a StatefulSet next to a Deployment)', async () => {
    front.setMode({ kind: 'silent' });
    const labels = (name: string) => ({ selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `${REPO}:v1` }] } } });
    const documents = [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' }, spec: { replicas: 1, ...labels('api') } },
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' }, spec: { replicas: 1, serviceName: 'db', ...labels('db') } },
    ];
    const error = await rejection(deployApp(request('silence', `${REPO}:v1`, { workload: { kind: 'manifests', documents } }), { cluster: connect(), log, network: testNetwork }));
    assert.ok(error instanceof TaskError, String(error));
    assert.equal(error.key, 'KubeApiStopped');
    assert.match(error.message, /in time: applying and rolling out deployment 'api', statefulset 'db' \(rolloutTimeoutSeconds, 2 s\) did not finish within 2 seconds/);
  });

  it('times the rollout out, and bounds diagnostics and rollback, when the server goes silent mid-watch', async () => {
    const cluster = connect();
    await deployApp(request('midway', `${REPO}:v1`, { rolloutTimeoutMs: 10_000 }), { cluster, log, network: testNetwork });
    lines.length = 0;
    const watching = deployApp(request('midway', `${REPO}:missing`), { cluster, log, network: testNetwork });
    while (!lines.some((line) => line.startsWith('Waiting up to'))) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    front.setMode({ kind: 'silent' });
    front.cut();
    const error = await rejection(watching);
    assert.ok(error instanceof RolloutFailedError, String(error));
    assert.equal(error.reason, 'Timeout');
    assert.equal(error.rolledBack, false);
    assert.match(error.rollbackError ?? '', new RegExp(`API server at https://${host()} could not read deployment 'churn' in namespace 'midway' in time: the rollback of deployment 'churn' did not finish within 2 seconds`));
    // Each step ends at its own limit, named in its message (the suite's mocha timeout guards against a hang).
    assert.match(String(error.diagnostics), /Could not read the pods and events of deployment 'churn': .*within \d+(\.\d+)? s(econds)?/);
  });

  it('reports a server silent since the apply as such, after rolloutTimeoutMs', async () => {
    front.setMode({
      kind: 'forward',
      refuse: (incoming) => {
        // The apply of the last object (the Service) goes through; from then on the server says nothing.
        if (incoming.method === 'PATCH' && /\/services\/churn/.test(incoming.url ?? '')) setImmediate(() => front.setMode({ kind: 'silent' }));
        return undefined;
      },
    });
    const error = await rejection(deployApp(request('hushed', `${REPO}:v1`), { cluster: connect(), log, network: testNetwork }));
    assert.ok(error instanceof RolloutFailedError, String(error));
    assert.equal(error.reason, 'Timeout');
    assert.match(error.detail, new RegExp(`revision \\d+ did not finish rolling out within 1\\.5 s \\(last status: the API server ${host()} sent nothing since the apply\\)`));
    assert.ok(sim.get('Deployment', 'hushed', 'churn'), 'the apply itself went through');
  });

  it('waits as the API server asks (503 with Retry-After), then goes on', async () => {
    let refused = 0;
    front.setMode({
      kind: 'forward',
      refuse: (incoming) => (incoming.method === 'GET' && incoming.url?.startsWith('/api/v1/namespaces/throttled') && refused++ < 1 ? { status: 503, message: 'etcd leader changed', reason: 'ServiceUnavailable', retryAfter: '1' } : undefined),
    });
    const started = performance.now();
    assert.equal(await ensureNamespace(connect(), 'throttled', true, log), true);
    assert.ok(performance.now() - started >= 950, 'waited the second the server asked for');
    assert.ok(lines.some((line) => /failed to read namespace 'throttled' \(HTTP 503 ServiceUnavailable: etcd leader changed\); retrying in 1000 ms/.test(line)), lines.join('\n'));
  });

  it('refuses a watch line over 4 MiB with a message naming the server and the limit', async () => {
    const cluster = connect();
    await ensureNamespace(cluster, 'huge', true, log);
    front.setMode({
      kind: 'forward',
      rewrite: (object, incoming) => {
        if (!/watch=true/.test(incoming.url ?? '') || !object.object) return;
        const metadata = (object.object as { metadata: { annotations?: Record<string, string> } }).metadata;
        metadata.annotations = { ...metadata.annotations, padding: 'x'.repeat(5 * 1024 * 1024) };
      },
    });
    // An image that never pulls keeps the rollout open, so the outcome comes from the watch even
    // when a loaded machine lets the first read of the Deployment arrive late.
    const error = await rejection(deployApp(request('huge', `${REPO}:missing`, { rolloutTimeoutMs: 20_000 }), { cluster, log, network: testNetwork }));
    assert.equal((error as TaskError).key, 'KubeApiUnavailable');
    assert.match(error.message, new RegExp(`could not watch deployment 'churn' after 1 attempts: a watch event from ${host()} is larger than the 4194304 bytes allowed`));
  });

  it('ends a rollout watch at once when the agent cancels, with the StoppedError', async () => {
    const lifetime = new OwnedLifetime();
    const cluster = connect(front.kubeconfig(), lifetime.signal);
    const deploying = deployApp(request('cancelled', `${REPO}:missing`, { rolloutTimeoutMs: 30_000 }), { cluster, log, network: testNetwork });
    while (!lines.some((line) => line.startsWith('Waiting up to'))) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
    lifetime.cancel('the agent cancelled the job (SIGTERM)');
    const error = await rejection(deploying);
    // A watch that ignored the cancel would end at its 30 s limit with a RolloutFailedError (Timeout) instead.
    assert.ok(error instanceof StoppedError && error.reason === 'cancelled', String(error));
    assert.ok(!lines.some((line) => line.startsWith('Rolling deployment')), 'no rollback after a cancel');
  });
});

describe('kubeconfig TLS, commands and proxies', function () {
  this.timeout(60_000);
  let sim: ClusterSimulator;
  let dir: string;
  const log: Log = recordingLog([]);

  before(async () => {
    sim = await startClusterSimulator({ auth: { token: TOKEN }, podReadyDelayMs: 50 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeconfig-commands-'));
  });
  after(async () => {
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The simulator's kubeconfig with its user replaced by `user` (YAML lines under "user:"). */
  const withUser = (user: string[]) => sim.kubeconfig().replace(/ {2}user:\n {4}token: .*\n/, `  user:\n${user.map((line) => `    ${line}`).join('\n')}\n`);
  const plugin = (name: string, body: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, body);
    return ['exec:', '  apiVersion: client.authentication.k8s.io/v1', `  command: ${JSON.stringify(process.execPath)}`, `  args: [${JSON.stringify(file)}]`, '  interactiveMode: Never'];
  };
  const inputError = (run: () => unknown, key: string): InputError => {
    try {
      run();
    } catch (error) {
      const reported = reportedByDeploy(error, { setting: 'kubeconfig', key });
      assert.equal(reported.input, 'kubernetesServiceConnection');
      return reported;
    }
    return assert.fail('accepted');
  };

  it('runs an exec plugin (no shell) once, and sends the token it prints with every request', async () => {
    const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: TOKEN } };
    const runs = path.join(dir, 'plugin-runs');
    const script = `require('fs').appendFileSync(${JSON.stringify(runs)}, 'ran\\n'); process.stdout.write(${JSON.stringify(JSON.stringify(credential))});`;
    const cluster = connectCluster(withUser(plugin('token.js', script)), { network: testNetwork });
    assert.equal(await ensureNamespace(cluster, 'exec-ok', true, log), true);
    assert.equal(await ensureNamespace(cluster, 'exec-ok', true, log), false);
    assert.ok(sim.get('Namespace', '', 'exec-ok'));
    // Without an expirationTimestamp the credential lasts as long as the task, as in kubectl.
    assert.equal(fs.readFileSync(runs, 'utf8'), 'ran\n', 'the plugin ran once for three requests');
  });

  it('says which exec plugin failed and the first line of its errors, never its output', async () => {
    const failing = connectCluster(withUser(plugin('fail.js', "process.stderr.write('token endpoint unreachable\\n'); process.exit(3);")), { network: testNetwork });
    let error = reportedByDeploy(await rejection(ensureNamespace(failing, 'exec-fail', true, log)), { setting: 'kubeconfig', key: 'KubeconfigCredentialsFailed' });
    assert.match(error.message, /Input 'kubernetesServiceConnection': the credentials of kubeconfig user 'simulator' could not be prepared: its exec plugin 'node' failed: token endpoint unreachable\./);

    const garbled = connectCluster(withUser(plugin('garbled.js', `process.stdout.write('token=${TOKEN}');`)), { network: testNetwork });
    error = reportedByDeploy(await rejection(ensureNamespace(garbled, 'exec-garbled', true, log)), { setting: 'kubeconfig', key: 'KubeconfigCredentialsFailed' });
    assert.match(error.message, /its exec plugin 'node' did not print an ExecCredential \(JSON\)/);
    assert.ok(!error.message.includes(TOKEN));
    assert.equal(sim.get('Namespace', '', 'exec-fail'), undefined);
  });

  it('trusts only the kubeconfig CA, honours tls-server-name and insecure-skip-tls-verify', async () => {
    const caData = Buffer.from(sim.caPem ?? '').toString('base64');
    const agentTrustingSim = new Network(networkSettings({ tls: { ca: [sim.caPem ?? ''] } }));
    const other = createTestCa(path.join(dir, 'other-ca'));
    const otherCa = Buffer.from(fs.readFileSync(other.caCert)).toString('base64');
    try {
      // The agent trusts the simulator's CA, but the kubeconfig names another: kubectl would refuse, so do we.
      const foreign = connectCluster(sim.kubeconfig().replace(caData, otherCa), { network: agentTrustingSim });
      const error = await rejection(ensureNamespace(foreign, 'tls-foreign', true, log));
      assert.match(error.message, /could not read namespace 'tls-foreign' after 1 attempts: .*(UNABLE_TO_VERIFY|self.signed|certificate)/i);

      const named = sim.kubeconfig().replace(`    server: ${sim.url}`, `    server: ${sim.url}\n    tls-server-name: localhost`);
      assert.equal(await ensureNamespace(connectCluster(named, { network: testNetwork }), 'tls-named', true, log), true);
      const misnamed = connectCluster(named.replace('tls-server-name: localhost', 'tls-server-name: api.example.com'), { network: testNetwork });
      assert.match((await rejection(ensureNamespace(misnamed, 'tls-misnamed', true, log))).message, /ERR_TLS_CERT_ALTNAME_INVALID/);

      const skipping = sim.kubeconfig().replace(`    certificate-authority-data: ${caData}`, '    insecure-skip-tls-verify: true');
      assert.equal(await ensureNamespace(connectCluster(skipping, { network: testNetwork }), 'tls-skipped', true, log), true);
    } finally {
      agentTrustingSim.close();
    }
  });

  it('refuses an auth-provider cmd-path without running it', () => {
    const marker = path.join(dir, 'cmd-path-ran');
    const kubeconfig = withUser(['auth-provider:', '  name: gcp', '  config:', '    cmd-path: /bin/sh', `    cmd-args: -c "touch ${marker}"`]);
    const error = inputError(() => connectCluster(kubeconfig, { network: testNetwork }), 'KubeconfigCmdPathRefused');
    assert.match(error.message, /user 'simulator' signs in through auth-provider 'gcp' with cmd-path, a command that client-node runs through a shell/);
    assert.ok(!fs.existsSync(marker), 'the command ran');
  });

  it("reaches the API server through the cluster's proxy-url (with credentials), and refuses a socks one", async () => {
    const proxy = await ForwardProxy.start({ username: 'deployer', password: 'proxy-secret' });
    try {
      const proxied = sim.kubeconfig().replace(`    server: ${sim.url}`, `    server: ${sim.url}\n    proxy-url: http://deployer:proxy-secret@127.0.0.1:${proxy.port}`);
      const cluster = connectCluster(proxied, { network: testNetwork });
      assert.equal(await ensureNamespace(cluster, 'proxied', true, log), true);
      cluster.close();
      assert.deepEqual([...proxy.peers()], [new URL(sim.url).host]);
      assert.ok(proxy.requests.every((entry) => entry.method === 'CONNECT' && entry.authorized));
    } finally {
      await proxy.close();
    }
    const socks = sim.kubeconfig().replace(`    server: ${sim.url}`, `    server: ${sim.url}\n    proxy-url: socks5://127.0.0.1:1080`);
    const error = inputError(() => connectCluster(socks, { network: testNetwork }), 'KubeconfigProxyUnsupported');
    assert.match(error.message, /proxy-url of scheme 'socks5'/);
  });
});
