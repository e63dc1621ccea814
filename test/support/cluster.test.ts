/**
 * The cluster simulator checked with the real kubectl (through the dispatcher, which picks the client
 * matching the server's minor version) and with @kubernetes/client-node.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { daemonSetStatus } from '../../tasks/common/kube/workloads/rolloutRules';
import { type ClusterSimulator, startClusterSimulator } from './cluster';

interface Run { code: number; stdout: string; stderr: string }

const TOKEN = 'simulated-aks-token';

function manifest(name: string, image: string, extra = ''): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
      - name: app
        image: ${image}
        ports: [{ containerPort: 8080 }]
        env: [{ name: MODEL_VERSION, value: "7" }]${extra}
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  annotations: { service.beta.kubernetes.io/azure-dns-label-name: ${name}-demo }
spec:
  type: LoadBalancer
  selector: { app: ${name} }
  ports: [{ port: 80, targetPort: 8080 }]
`;
}

async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Obj = { metadata: { name: string; annotations?: Record<string, string>; managedFields?: { manager: string; operation: string }[]; [k: string]: any }; [k: string]: any };

describe('cluster simulator', function () {
  let sim: ClusterSimulator;
  let home: string;

  const kubectl = (...args: string[]) => new Promise<Run>((resolve) => {
    execFile('kubectl', args, { env: { ...process.env, HOME: home, KUBECONFIG: path.join(home, 'kubeconfig') }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
  const ok = async (...args: string[]) => {
    const run = await kubectl(...args);
    assert.equal(run.code, 0, `kubectl ${args.join(' ')} failed: ${run.stderr}`);
    return run.stdout;
  };
  const apply = (name: string, image: string, ...flags: string[]) => {
    fs.writeFileSync(path.join(home, `${name}.yaml`), manifest(name, image));
    return kubectl('apply', '--server-side', ...flags, '-f', path.join(home, `${name}.yaml`));
  };
  const deployment = (name: string) => sim.get('Deployment', 'default', name) as Obj;
  const lbIp = (name: string) => eventually(`an ingress IP for ${name}`, () => (sim.get('Service', 'default', name) as Obj).status?.loadBalancer?.ingress?.[0]?.ip as string | undefined);

  before(async () => {
    sim = await startClusterSimulator({
      auth: { token: TOKEN }, podReadyDelayMs: 150, loadBalancerDelayMs: 200,
      imageBehaviour: async (image) => (image.endsWith(':missing') ? 'pullError' : image.endsWith(':crash') ? 'crash' : 'run'),
    });
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-sim-test-'));
    sim.writeKubeconfig(home);
  });

  after(async () => {
    await sim?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  afterEach(() => assert.deepEqual(sim.errors, [], 'the simulator recorded internal errors'));

  it('answers kubectl version, which then runs the client matching the server', async () => {
    const out = await ok('version');
    assert.match(out, /Client Version: v1\.30\./);
    assert.match(out, /Server Version: v1\.30\.13/);
  });

  it('refuses requests without the bearer token', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get(`${sim.url}/api/v1/namespaces`, { ca: sim.caPem }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    assert.equal(status, 401);
    assert.equal(JSON.parse(body).reason, 'Unauthorized');
  });

  it('applies a Deployment and Service server-side and rolls them out', async () => {
    const applied = await apply('web', 'example.azurecr.io/app:v1');
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /deployment\.apps\/web serverside-applied/);
    assert.match(applied.stdout, /service\/web serverside-applied/);
    const patch = sim.requests.find((r) => r.method === 'PATCH' && r.path === '/apis/apps/v1/namespaces/default/deployments/web');
    assert.equal(patch?.contentType, 'application/apply-patch+yaml');
    assert.equal(patch?.fieldManager, 'kubectl');
    assert.match(patch?.query ?? '', /fieldValidation=Strict/, 'kubectl found fieldValidation in the OpenAPI v3 and left validation to the server');
    assert.ok(sim.requests.some((r) => r.path === '/apis' && /as=APIGroupDiscoveryList/.test(r.accept ?? '')), 'aggregated discovery asked for');
    assert.ok(!sim.requests.some((r) => r.path === '/apis/apps/v1'), 'and used: no fallback to per-group-version discovery');
    assert.ok(deployment('web').metadata.managedFields?.some((m) => m.manager === 'kubectl' && m.operation === 'Apply'));

    const status = await ok('rollout', 'status', 'deployment/web', '--timeout=30s');
    assert.match(status, /deployment "web" successfully rolled out/);
    assert.equal(deployment('web').status.availableReplicas, 2);
    assert.equal(deployment('web').metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
  });

  it('gives the LoadBalancer a loopback IP that serves the ready pods', async () => {
    const ip = await lbIp('web');
    assert.match(ip, /^127\./);
    assert.match(await ok('get', 'svc', 'web'), new RegExp(`LoadBalancer\\s+10\\.0\\.\\S+\\s+${ip.replace(/\./g, '\\.')}\\s+80:3\\d+/TCP`));
    const response = await fetch(`http://${ip}/score?x=1`);
    assert.equal(response.status, 200);
    const body = await response.json() as { pod: string; image: string; env: Record<string, string> };
    assert.match(body.pod, /^web-[a-z0-9]+-[a-z0-9]{5}$/);
    assert.equal(body.image, 'example.azurecr.io/app:v1');
    assert.deepEqual(body.env, { MODEL_VERSION: '7' });
    assert.deepEqual(sim.loadBalancers().find((lb) => lb.name === 'web'), { namespace: 'default', name: 'web', ip, ports: [80], dnsLabel: 'web-demo' });
  });

  it('proxies to a pod with kubectl get --raw .../pods/{pod}:{port}/proxy, 404 for no such pod, 503 for one not running', async () => {
    await lbIp('web');
    const pods = (sim.list('Pod', 'default') as Obj[]).filter((pod) => pod.metadata.name.startsWith('web-') && pod.status?.phase === 'Running');
    const name = pods[0].metadata.name;
    const version = JSON.parse(await ok('get', '--raw', `/api/v1/namespaces/default/pods/${name}:8080/proxy/version`)) as Record<string, unknown>;
    assert.deepEqual(version, { model_version: null, model_digest: null }, 'the scripted app reports the model the pod template names: none here');
    const other = JSON.parse(await ok('get', '--raw', `/api/v1/namespaces/default/pods/${name}:8080/proxy/anything?x=1`)) as { pod: string; env: Record<string, string> };
    assert.equal(other.pod, name);
    const missing = await kubectl('get', '--raw', '/api/v1/namespaces/default/pods/web-nope:8080/proxy/version');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NotFound|not found/);
    await apply('stuck', 'example.azurecr.io/app:missing');
    const stuck = await eventually('a pod of stuck', () => (sim.list('Pod', 'default') as Obj[]).find((pod) => pod.metadata.name.startsWith('stuck-'))?.metadata.name);
    const refused = await kubectl('get', '--raw', `/api/v1/namespaces/default/pods/${stuck}:8080/proxy/version`);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /ServiceUnavailable|connection refused/);
  });

  it('fails rollout status with the progress deadline when the image cannot be pulled', async () => {
    assert.equal((await apply('web', 'example.azurecr.io/app:missing')).code, 0);
    const status = await kubectl('rollout', 'status', 'deployment/web', '--timeout=30s');
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, /deployment "web" exceeded its progress deadline/);
    assert.match(await ok('get', 'pods'), /web-\S+\s+0\/1\s+(ImagePullBackOff|ErrImagePull)\s/);
    // maxUnavailable 0 kept the old pods: the service still answers with the old image.
    const body = await (await fetch(`http://${await lbIp('web')}/`)).json() as { image: string };
    assert.equal(body.image, 'example.azurecr.io/app:v1');
  });

  it('rolls back with kubectl rollout undo, reusing the old ReplicaSet under a new revision', async () => {
    assert.match(await ok('rollout', 'undo', 'deployment/web'), /deployment\.apps\/web rolled back/);
    const undo = sim.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/web')).pop();
    assert.equal(undo?.contentType, 'application/json-patch+json');
    assert.match(await ok('rollout', 'status', 'deployment/web', '--timeout=30s'), /successfully rolled out/);
    const d = deployment('web');
    assert.equal(d.spec.template.spec.containers[0].image, 'example.azurecr.io/app:v1');
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    const replicaSets = sim.list('ReplicaSet', 'default') as Obj[];
    const v1 = replicaSets.find((rs) => rs.spec.template.spec.containers[0].image.endsWith(':v1'));
    assert.equal(v1?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.equal(v1?.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
    assert.equal(replicaSets.filter((rs) => rs.metadata.name.startsWith('web-')).length, 2, 'one ReplicaSet per template');
    assert.match(await ok('rollout', 'history', 'deployment/web'), /\n2\s+<none>\n3\s+<none>/);
  });

  it('reports a field-manager conflict after the undo unless forced, as a real cluster does', async () => {
    const conflict = await apply('web', 'example.azurecr.io/app:v2');
    assert.notEqual(conflict.code, 0);
    assert.match(conflict.stderr, /conflict with "kubectl" using apps\/v1: \.spec\.template\.spec\.containers\[name="app"\]\.image/);
    assert.equal((await apply('web', 'example.azurecr.io/app:v2', '--force-conflicts')).code, 0);
    assert.match(await ok('rollout', 'status', 'deployment/web', '--timeout=30s'), /successfully rolled out/);
    assert.equal(((await (await fetch(`http://${await lbIp('web')}/`)).json()) as { image: string }).image, 'example.azurecr.io/app:v2');
  });

  it('lists events with kubectl get events, also by field selector', async () => {
    const events = await ok('get', 'events');
    for (const reason of ['Scheduled', 'Pulling', 'Started', 'Failed', 'BackOff', 'ScalingReplicaSet', 'EnsuredLoadBalancer']) {
      assert.match(events, new RegExp(`\\s${reason}\\s`), `an event with reason ${reason}`);
    }
    assert.match(events, /Failed to pull image "example\.azurecr\.io\/app:missing"/);
    const forDeployment = await ok('get', 'events', '--field-selector', 'involvedObject.kind=Deployment,involvedObject.name=web');
    assert.match(forDeployment, /Scaled up replica set web-/);
    assert.doesNotMatch(forDeployment, /pod\//);
  });

  it('patches with JSON, merge and strategic merge patches', async () => {
    await ok('patch', 'deployment', 'web', '--type=merge', '-p', '{"metadata":{"labels":{"team":"ml"}}}');
    await ok('patch', 'deployment', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":3}]');
    await ok('patch', 'deployment', 'web', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"EXTRA","value":"1"}]}]}}}}');
    const d = deployment('web');
    assert.equal(d.metadata.labels.team, 'ml');
    assert.equal(d.spec.replicas, 3);
    assert.deepEqual(d.spec.template.spec.containers[0].env, [{ name: 'MODEL_VERSION', value: '7' }, { name: 'EXTRA', value: '1' }]);
    assert.match(await ok('rollout', 'status', 'deployment/web', '--timeout=30s'), /successfully rolled out/);
  });

  it('never readies a crashing image: CrashLoopBackOff and a 503 from its load balancer', async () => {
    assert.equal((await apply('crashy', 'example.azurecr.io/app:crash')).code, 0);
    const ip = await lbIp('crashy');
    // Sampled often: a container that is ready even briefly between crashes must not go unnoticed.
    const crashy = () => (sim.list('Pod', 'default') as Obj[]).filter((p) => p.metadata.name.startsWith('crashy-'));
    for (const deadline = Date.now() + 10_000; !crashy().some((p) => p.status?.containerStatuses?.[0]?.restartCount >= 2);) {
      assert.ok(Date.now() < deadline, 'timed out waiting for two restarts');
      assert.ok(!crashy().some((p) => p.status?.containerStatuses?.[0]?.ready), 'a crashing container was ready');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.match(await ok('get', 'pods', '-l', 'app=crashy'), /0\/1\s+(CrashLoopBackOff|Running)\s+[1-9]/);
    const response = await fetch(`http://${ip}/`);
    assert.equal(response.status, 503);
    assert.equal(((await response.json()) as { error: string }).error, 'no ready endpoints');
  });

  it('works with @kubernetes/client-node: server-side apply, a stale update, and a watch', async () => {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromString(sim.kubeconfig());
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const spec = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'node-app', namespace: 'default' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'node-app' } }, template: { metadata: { labels: { app: 'node-app' } }, spec: { containers: [{ name: 'app', image: 'example.azurecr.io/app:v1' }] } } },
    };
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    let available!: () => void;
    const becameAvailable = new Promise<void>((resolve) => (available = resolve));
    const controller = await watch.watch('/apis/apps/v1/namespaces/default/deployments', { fieldSelector: 'metadata.name=node-app' },
      (type, object: Obj) => {
        seen.push(type);
        if (object.status?.availableReplicas === 1) available();
      }, () => undefined);
    const applied = await objects.patch(spec, undefined, undefined, 'deploy-ai-app', true, k8s.PatchStrategy.ServerSideApply) as unknown as Obj;
    assert.equal(applied.metadata.managedFields?.[0]?.manager, 'deploy-ai-app');
    await becameAvailable;
    controller.abort();
    assert.equal(seen[0], 'ADDED');
    assert.ok(seen.includes('MODIFIED'));

    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const stale = { ...applied, metadata: { ...applied.metadata, resourceVersion: '1' } } as Parameters<typeof apps.replaceNamespacedDeployment>[0]['body'];
    await assert.rejects(apps.replaceNamespacedDeployment({ name: 'node-app', namespace: 'default', body: stale }), (error: { code?: number }) => error.code === 409);
  });

  it('rolls out a DaemonSet, one pod per node, and kubectl rollout status says what our DaemonSet rules say', async () => {
    const daemon = (image: string) => ['apiVersion: apps/v1', 'kind: DaemonSet', 'metadata: {name: agent}', 'spec:', '  selector: {matchLabels: {app: agent}}',
      '  template:', '    metadata: {labels: {app: agent}}', `    spec: {containers: [{name: agent, image: "${image}"}]}`, ''].join('\n');
    const file = path.join(home, 'agent.yaml');
    const applyDaemon = async (image: string) => {
      fs.writeFileSync(file, daemon(image));
      return ok('apply', '--server-side', '-f', file);
    };
    const ours = () => daemonSetStatus(sim.get('DaemonSet', 'default', 'agent') as Parameters<typeof daemonSetStatus>[0]);
    const agents = () => (sim.list('Pod', 'default') as Obj[]).filter((pod) => pod.metadata.name.startsWith('agent-') && !pod.metadata.deletionTimestamp);
    assert.match(await applyDaemon('example.azurecr.io/agent:v1'), /daemonset\.apps\/agent serverside-applied/);
    assert.match(await ok('rollout', 'status', 'daemonset/agent', '--timeout=30s'), /daemon set "agent" successfully rolled out/);
    assert.deepEqual(ours(), { done: true, failed: false, message: 'daemon set "agent" successfully rolled out' });
    const ds = sim.get('DaemonSet', 'default', 'agent') as Obj;
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 1, 'defaulted as SetDefaults_DaemonSet');
    assert.deepEqual([agents().length, ds.status.desiredNumberScheduled, ds.status.numberReady], [sim.list('Node').length, sim.list('Node').length, sim.list('Node').length]);

    // A new image that cannot be pulled: the old pod is replaced (maxUnavailable 1) and the new one never becomes available.
    await applyDaemon('example.azurecr.io/agent:missing');
    const stuck = await kubectl('rollout', 'status', 'daemonset/agent', '--timeout=2s');
    assert.notEqual(stuck.code, 0);
    const expected = ours();
    assert.equal(expected.done, false);
    assert.equal(expected.message, `Waiting for daemon set "agent" rollout to finish: 0 of ${sim.list('Node').length} updated pods are available...`);
    assert.ok(stuck.stdout.trim().split('\n').at(-1) === expected.message, `kubectl: ${stuck.stdout}\nours: ${expected.message}`);
    assert.deepEqual(agents().map((pod) => [pod.spec.containers[0].image, pod.metadata.labels?.['controller-revision-hash'] === undefined]), [['example.azurecr.io/agent:missing', false]]);

    await applyDaemon('example.azurecr.io/agent:v1');
    assert.match(await ok('rollout', 'status', 'daemonset/agent', '--timeout=30s'), /daemon set "agent" successfully rolled out/);
    assert.equal(ours().done, true);
    await ok('delete', 'daemonset/agent');
  });
});

describe('cluster simulator watch', () => {
  let sim: ClusterSimulator;
  const base = () => sim.url;

  const send = async (method: string, urlPath: string, body?: unknown, contentType = 'application/json') => {
    const response = await fetch(`${base()}${urlPath}`, { method, headers: { 'content-type': contentType }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json() as Obj };
  };

  /** Opens a watch and collects its lines; `headers` resolves as soon as the response starts. */
  const openWatch = (query: string) => {
    const lines: { type: string; object: Obj }[] = [];
    let ended = false;
    let request!: http.ClientRequest;
    const headers = new Promise<http.IncomingMessage>((resolve, reject) => {
      request = http.get(`${base()}/api/v1/namespaces/w/configmaps?watch=1&${query}`, (res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let at = buffer.indexOf('\n'); at >= 0; at = buffer.indexOf('\n')) {
            lines.push(JSON.parse(buffer.slice(0, at)));
            buffer = buffer.slice(at + 1);
          }
        });
        res.on('end', () => (ended = true));
        resolve(res);
      });
      request.on('error', reject);
    });
    return { lines, headers, ended: () => ended, close: () => request.destroy() };
  };

  before(async () => {
    sim = await startClusterSimulator({ tls: false, watchCacheSize: 20, bookmarkIntervalMs: 100 });
    assert.equal((await send('POST', '/api/v1/namespaces', { metadata: { name: 'w' } })).status, 201);
  });

  after(() => sim?.stop());

  it('streams one JSON event per line, headers first, and resumes from a resourceVersion', async () => {
    const listed = await send('GET', '/api/v1/namespaces/w/configmaps');
    const watch = openWatch(`resourceVersion=${listed.body.metadata.resourceVersion}`);
    const res = await watch.headers;
    assert.equal(res.statusCode, 200);
    assert.equal(watch.lines.length, 0, 'headers arrive before any event');
    const created = await send('POST', '/api/v1/namespaces/w/configmaps', { metadata: { name: 'model' }, data: { version: '1' } });
    assert.equal(created.status, 201);
    const updated = await send('PUT', '/api/v1/namespaces/w/configmaps/model', { ...created.body, data: { version: '2' } });
    assert.equal(updated.status, 200);
    const stale = await send('PUT', '/api/v1/namespaces/w/configmaps/model', { ...created.body, data: { version: '3' } });
    assert.equal(stale.status, 409);
    await eventually('two events', () => watch.lines.length >= 2);
    watch.close();
    assert.deepEqual(watch.lines.map((l) => [l.type, l.object.data.version]), [['ADDED', '1'], ['MODIFIED', '2']]);

    const resumed = openWatch(`resourceVersion=${created.body.metadata.resourceVersion}`);
    await eventually('the replayed update', () => resumed.lines.length >= 1);
    resumed.close();
    assert.deepEqual([resumed.lines[0].type, resumed.lines[0].object.metadata.resourceVersion], ['MODIFIED', updated.body.metadata.resourceVersion]);
  });

  it('answers a too-old resourceVersion with a 410 Expired event', async () => {
    const first = await send('POST', '/api/v1/namespaces/w/configmaps', { metadata: { name: 'churn' }, data: { n: '0' } });
    for (let n = 1; n <= 25; n += 1) await send('PATCH', '/api/v1/namespaces/w/configmaps/churn', { data: { n: String(n) } }, 'application/merge-patch+json');
    const watch = openWatch(`resourceVersion=${first.body.metadata.resourceVersion}`);
    await eventually('the end of the stream', () => watch.ended());
    assert.equal(watch.lines.length, 1);
    assert.equal(watch.lines[0].type, 'ERROR');
    assert.equal(watch.lines[0].object.code, 410);
    assert.equal(watch.lines[0].object.reason, 'Expired');
  });

  it('sends bookmarks when allowed and ends cleanly after timeoutSeconds', async () => {
    const started = Date.now();
    const watch = openWatch('allowWatchBookmarks=true&timeoutSeconds=1');
    // A generous wait guards against a stream that never ends; the lower bound (which load cannot break)
    // shows the stream was not simply closed at once.
    await eventually('the end of the stream', () => watch.ended(), 60_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900, `ended after ${elapsed} ms`);
    assert.deepEqual([...new Set(watch.lines.map((l) => l.type))], ['ADDED', 'BOOKMARK'], 'synthetic ADDED for existing objects, then bookmarks');
    assert.match(watch.lines[watch.lines.length - 1].object.metadata.resourceVersion, /^\d+$/);
  });
});
