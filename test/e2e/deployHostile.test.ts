/**
 * The bundled Deploy task, as the agent runs it, against hostile API servers (a front before the
 * cluster simulator), through the agent's forward proxy, cancelled mid-rollout, and with kubeconfig
 * users that run commands. Every hostile case asserts the four things: a clear error naming the
 * input or the peer, no secret in the output, only the task's own agent commands, and nothing
 * half-written in the cluster.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { type FrontMode, type HostileFront, startHostileFront } from '../support/cluster/hostileFront';
import { ForwardProxy } from '../support/forwardProxy';
import { assertCleanFailure, assertOnlyOwnCommands } from '../support/hostileChecks';
import { assertNoSecrets, runTask, type RunTaskOptions, type TaskRun, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'DeployAiAppToAksV1');
const KUBE_TOKEN = `e2e-hostile-kube-token-${Math.random().toString(36).slice(2)}`;
const IMAGE = 'example.azurecr.io/churn-app@sha256:' + 'a'.repeat(64);
const MISSING = 'example.azurecr.io/churn-app@sha256:' + '0'.repeat(64);
const INJECTION = '\r\n##vso[task.setvariable variable=INJECTED]pwned ##[error]forged';

describe('DeployAiAppToAks e2e: hostile API servers, the agent proxy, cancel, kubeconfig commands', function () {
  this.timeout(180_000);
  let sim: ClusterSimulator;
  let dir: string;
  const fronts: HostileFront[] = [];

  before(async () => {
    sim = await startClusterSimulator({ auth: { token: KUBE_TOKEN }, podReadyDelayMs: 50, loadBalancerDelayMs: 100, imageBehaviour: (image) => (image === MISSING ? 'pullError' : 'run') });
    dir = fs.mkdtempSync(join(os.tmpdir(), 'deploy-hostile-e2e-'));
  });
  after(async () => {
    await Promise.all(fronts.map((front) => front.close()));
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const front = async (mode: FrontMode) => {
    const started = await startHostileFront(sim, mode);
    fronts.push(started);
    return started;
  };
  const deploy = (kubeconfig: string, inputs: Record<string, string>, more: Partial<RunTaskOptions> = {}) => runTask({
    taskDir,
    endpoints: { aks: { url: sim.url, scheme: 'Kubernetes', parameters: { kubeconfig }, data: { authorizationType: 'Kubeconfig' } } },
    inputs: { kubernetesServiceConnection: 'aks', appName: 'churn-app', containerPort: '8080', servicePort: '8080', rolloutTimeoutSeconds: '60', progressDeadlineSeconds: '5', image: IMAGE, ...inputs },
    ...more,
  });
  const secrets = { 'kube token': KUBE_TOKEN };
  const failsCleanly = (run: TaskRun, names: RegExp) => assertCleanFailure(run, { taskDir, names, secrets });

  it('prints events, pod names, conditions and Status messages carrying ##vso[ and CR/LF only neutralized', async () => {
    const hostile = await front({
      kind: 'forward',
      rewrite: (object, request) => {
        const url = request.url ?? '';
        const items = (Array.isArray(object.items) ? object.items : [object.object ?? object]) as Record<string, any>[];
        // Every event list gains a Warning of the attacker's (on no object of ours, so no uid to filter it by).
        if (/\/events/.test(url) && Array.isArray(object.items)) object.items.push({ type: 'Warning', reason: `Failed${INJECTION}`, message: `Back-off pulling image${INJECTION}`, count: 3, involvedObject: { kind: 'Pod', name: 'x' } });
        for (const item of items) {
          if (/\/pods/.test(url) && item.metadata?.name) item.metadata.name = `${item.metadata.name}${INJECTION}`;
          for (const condition of item.status?.conditions ?? []) condition.message = `${condition.message}${INJECTION}`;
        }
      },
    });
    const run = await deploy(hostile.kubeconfig(), { namespace: 'injected', image: MISSING });
    failsCleanly(run, /did not roll out image/);
    const output = visibleOutput(run);
    assert.match(output, /#\\#vso\[task\.setvariable variable=INJECTED\]pwned/, 'the hostile text reached the log, defused');
    assert.match(output, /Warning Failed\\r\\n#\\#vso\[task\.setvariable variable=INJECTED\]pwned #\\#\[error\]forged on pod\/x \(\d+x\): Back-off pulling image #\\#vso/, 'an event: reason escaped, message folded to one line');
    assert.match(output, /has timed out progressing\.\\r\\n#\\#vso/, 'a condition message with its line breaks escaped');
    assert.match(output, /Pod churn-app-\S+\\r\\n#\\#vso/, 'the pod name too');
    assert.equal(run.variables.INJECTED, undefined);

    hostile.setMode({ kind: 'forward', refuse: (request) => (request.method === 'PATCH' && /\/deployments\//.test(request.url ?? '') ? { status: 422, message: `spec.template: Invalid value${INJECTION}` } : undefined) });
    const refused = await deploy(hostile.kubeconfig(), { namespace: 'refused' });
    failsCleanly(refused, new RegExp(`API server at ${hostile.url.replace(/\./g, '\\.')} refused to apply Deployment 'churn-app' in namespace 'refused': HTTP 422 Invalid: spec\\.template: Invalid value\\\\r\\\\n#\\\\#vso`));
    assert.equal(sim.get('Deployment', 'refused', 'churn-app'), undefined, 'nothing half-written');
    assert.equal(sim.get('Service', 'refused', 'churn-app'), undefined);
  });

  it('ends soon after rolloutTimeoutSeconds against a server that never answers, and one that trickles', async () => {
    const [silent, trickling] = await Promise.all([front({ kind: 'silent' }), front({ kind: 'trickle', intervalMs: 1000 })]);
    const runs = await Promise.all([silent, trickling].map((hostile, index) => deploy(hostile.kubeconfig(), { namespace: `stalled-${index}`, rolloutTimeoutSeconds: '10' }, { timeoutMs: 60_000 })));
    for (const [index, run] of runs.entries()) {
      const server = [silent, trickling][index].url.replace(/\./g, '\\.');
      failsCleanly(run, new RegExp(`API server at ${server} could not read namespace 'stalled-${index}' in time: .*rolloutTimeoutSeconds, 10 s\\) did not finish within 10 seconds`));
      // The message names the 10 s rollout limit; the task ended itself before the runner's 60 s kill. A lower
      // bound only (load cannot break it) shows it did not stop before that limit.
      assert.equal(run.timedOut, false);
      assert.ok(run.durationMs > 9_000, `ended after ${run.durationMs} ms`);
      assert.equal(sim.get('Namespace', '', `stalled-${index}`), undefined);
    }
  });

  it('parses every manifest before applying the first: a broken last file applies nothing and quotes nothing', async () => {
    const folder = join(dir, 'manifests');
    fs.mkdirSync(folder);
    fs.writeFileSync(join(folder, 'a-app.yaml'), [
      'apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: settings}', 'data: {THRESHOLD: "0.7"}', '---',
      'apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: web}',
      'spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: "example.azurecr.io/churn-app:dev"}]}}}', '',
    ].join('\n'));
    const password = 'manifest-db-password-8812';
    const broken = join(folder, 'z-secret.yaml');
    fs.writeFileSync(broken, `apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: ${password}\n   user: [admin\n`);
    let run = await deploy(sim.kubeconfig(), { namespace: 'manifests', manifests: `${folder}/*.yaml` });
    assertCleanFailure(run, { taskDir, names: /Input 'manifests': .*z-secret\.yaml is not valid YAML: .+ at line \d+, column \d+/, secrets: { ...secrets, 'manifest password': password } });
    const laughs = ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: laughs}', 'l0: &l0 "lol"'];
    for (let level = 1; level <= 9; level++) laughs.push(`l${level}: &l${level} [${Array(10).fill(`*l${level - 1}`).join(', ')}]`);
    fs.writeFileSync(broken, `${laughs.join('\n')}\n`);
    run = await deploy(sim.kubeconfig(), { namespace: 'manifests', manifests: `${folder}/*.yaml` });
    assertCleanFailure(run, { taskDir, names: /z-secret\.yaml is not valid YAML: its aliases expand to more than 1000000 nodes/, secrets });
    assert.equal(run.timedOut, false, 'the alias limit stopped the expansion');
    assert.equal(sim.get('Namespace', '', 'manifests'), undefined, 'nothing applied, not even the namespace');
    assert.equal(sim.get('ConfigMap', 'manifests', 'settings'), undefined);
  });

  describe('through the agent proxy', () => {
    let proxy: ForwardProxy;
    afterEach(() => proxy?.close());
    /** host:port of the app's load balancer, where the smoke test goes. */
    const lb = () => `${sim.loadBalancers().find((entry) => entry.namespace === 'proxied')?.ip}:8080`;

    it('reaches the API server by CONNECT and the smoke test by forwarding', async () => {
      proxy = await ForwardProxy.start();
      const run = await deploy(sim.kubeconfig(), { namespace: 'proxied', serviceType: 'LoadBalancer', smokeTestPath: '/healthz' }, { variables: { 'Agent.ProxyUrl': proxy.url } });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.deepEqual([...proxy.peers()].sort(), [new URL(sim.url).host, lb()].sort());
      assert.ok(proxy.requests.some((entry) => entry.method === 'CONNECT' && entry.target === new URL(sim.url).host));
      assert.ok(proxy.requests.some((entry) => entry.method === 'GET' && entry.target === `http://${lb()}/healthz`));
      assertOnlyOwnCommands(run, taskDir);
    });

    it('signs in to an authenticating proxy without printing its password', async () => {
      proxy = await ForwardProxy.start({ username: 'agent', password: 'proxy-pass-e2e-31337' });
      const run = await deploy(sim.kubeconfig(), { namespace: 'proxied', serviceType: 'LoadBalancer', smokeTestPath: '/healthz' }, {
        variables: { 'Agent.ProxyUrl': proxy.url, 'Agent.ProxyUsername': 'agent' }, secretVariables: { 'Agent.ProxyPassword': 'proxy-pass-e2e-31337' },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.ok(proxy.requests.length > 0 && proxy.requests.every((entry) => entry.authorized));
      // task-lib prints every variable it reads as it loads (internal.js exposes the proxy settings at import),
      // before any task code runs; the agent masks that line, Agent.ProxyPassword being a secret variable.
      const ours = { ...run, stdout: run.stdout.split('\n').filter((line) => !line.startsWith('##vso[task.debug]Agent.ProxyPassword=')).join('\n') };
      assertNoSecrets(ours, { ...secrets, 'proxy password': 'proxy-pass-e2e-31337' });
      assert.ok(run.secretsRegistered.includes('proxy-pass-e2e-31337'), 'the proxy password is registered as a secret');
    });

    it('goes direct to an API server in the bypass list', async () => {
      proxy = await ForwardProxy.start();
      const run = await deploy(sim.kubeconfig(), { namespace: 'proxied', serviceType: 'LoadBalancer', smokeTestPath: '/healthz' }, {
        variables: { 'Agent.ProxyUrl': proxy.url, 'Agent.ProxyBypassList': JSON.stringify(['^https://127\\.0\\.0\\.1:']) },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.deepEqual([...proxy.peers()], [lb()], 'only the smoke test went through the proxy');
    });
  });

  it('ends promptly and cleanly on SIGTERM during the rollout watch (result Cancelled, nothing rolled back)', async () => {
    const run = await deploy(sim.kubeconfig(), { namespace: 'cancelled', image: MISSING, progressDeadlineSeconds: '600', rolloutTimeoutSeconds: '600' }, { cancelWhen: { line: /Deployment 'churn-app': Waiting for deployment/ }, keepFolders: true });
    after(() => run.cleanup());
    assert.equal(run.result.status, 'Cancelled', visibleOutput(run));
    assert.match(run.result.message, /The task was cancelled: the agent cancelled the job \(SIGTERM\)/);
    // With a 600 s rollout limit, a task deaf to SIGTERM would be killed by the runner (100 s) and not end Cancelled.
    assert.equal(run.timedOut, false);
    assert.ok(!/Rolling deployment/.test(run.stdout), 'no rollback on a cancel');
    assertOnlyOwnCommands(run, taskDir);
    assertNoSecrets(run, secrets);
    assert.deepEqual(fs.readdirSync(run.folders.temp).filter((name) => name !== '.taskkey'), [], "nothing of ours left in the agent temp folder (.taskkey is task-lib's)");
  });

  describe('kubeconfig users that run commands', () => {
    const withUser = (user: string[]) => sim.kubeconfig().replace(/ {2}user:\n {4}token: .*\n/, `  user:\n${user.map((line) => `    ${line}`).join('\n')}\n`);

    it('an exec plugin that prints a token works end to end', async () => {
      const plugin = join(dir, 'get-token.js');
      fs.writeFileSync(plugin, `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: ${JSON.stringify(KUBE_TOKEN)} } }));`);
      const kubeconfig = withUser(['exec:', '  apiVersion: client.authentication.k8s.io/v1', `  command: ${JSON.stringify(process.execPath)}`, `  args: [${JSON.stringify(plugin)}]`, '  interactiveMode: Never']);
      const run = await deploy(kubeconfig, { namespace: 'exec-plugin' });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.ok(sim.get('Deployment', 'exec-plugin', 'churn-app'));
      assertNoSecrets(run, secrets);
    });

    it('an auth-provider cmd-path is refused naming the input, and never runs', async () => {
      const marker = join(dir, 'cmd-path-ran');
      const run = await deploy(withUser(['auth-provider:', '  name: gcp', '  config:', '    cmd-path: /bin/sh', `    cmd-args: -c "touch ${marker}"`]), { namespace: 'cmd-path' });
      failsCleanly(run, /Input 'kubernetesServiceConnection' names service connection 'aks', whose kubeconfig user 'simulator' signs in through auth-provider 'gcp' with cmd-path/);
      assert.ok(!fs.existsSync(marker), 'the command ran');
      assert.equal(sim.get('Namespace', '', 'cmd-path'), undefined);
    });
  });
});
