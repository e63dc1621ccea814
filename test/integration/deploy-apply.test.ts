/**
 * The Deploy core (connect, apply, service address, smoke test, deployApp) against the cluster
 * simulator over HTTPS with its test CA and a bearer token, as AKS is reached. Every test reads the
 * effect back from the simulator, and no secret may appear in any message or log line.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { ApiException } from '@kubernetes/client-node';
import { TaskError } from '../../tasks/common/errors';
import { NetworkError } from '../../tasks/common/net/errors';
import type { Log } from '../../tasks/common/log';
import { KubeApiError, kubeCall } from '../../tasks/common/kube/apiCall';
import { applyObjects, ensureNamespace } from '../../tasks/common/kube/apply';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import { type DeployRequest, deployApp, type GeneratedApp, RolloutFailedError } from '../../tasks/common/kube/deploy';
import { MANAGER } from '../../tasks/common/kube/generate';
import { parseManifests } from '../../tasks/common/kube/parse';
import { waitForServiceAddress } from '../../tasks/common/kube/service';
import { smokeTest } from '../../tasks/common/kube/smokeTest';
import { substituteImage } from '../../tasks/common/kube/substitute';
import { daemonSetStatus, statefulSetStatus } from '../../tasks/common/kube/workloads/rolloutRules';
import type { KubeObject } from '../../tasks/common/kube/types';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { recordingLog, rejection } from '../support/capture';
import { reportedByDeploy } from '../support/deployFailures';
import { testNetwork } from '../support/services';

const TOKEN = `sim-token-${Math.random().toString(36).slice(2)}`;
const PASSWORD = `registry-pass-${Math.random().toString(36).slice(2)}`;
const REPO = 'example.azurecr.io/churn';

type Obj = { metadata: { name: string; generation?: number; annotations?: Record<string, string>; deletionTimestamp?: string; managedFields?: { manager: string }[] }; [k: string]: any };

function app(name: string, extra: Partial<GeneratedApp> = {}): GeneratedApp {
  return {
    appName: name, replicas: 2, containerPort: 8080, servicePort: 8080, serviceType: 'LoadBalancer', readinessPath: '/healthz',
    env: { MODEL_VERSION: '7' }, annotations: { modelVersion: '7' }, ...extra,
  };
}

/** What these tests deploy with unless one says otherwise: short waits, a namespace made on demand, rollback on. */
const testSettings = { createNamespace: true, rollbackOnFailure: true, rolloutTimeoutMs: 20_000, loadBalancerTimeoutMs: 10_000 } as const satisfies Partial<DeployRequest>;

/** A port nothing listens on: the OS picks a free one, which is then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('deploy core against the cluster simulator', function () {
  let sim: ClusterSimulator;
  let cluster: Cluster;
  let lines: string[];
  let log: Log;
  const seen: string[] = [];

  const deploy = (request: Omit<DeployRequest, keyof typeof testSettings> & Partial<DeployRequest>) =>
    deployApp({ ...testSettings, ...request }, { cluster, log, network: testNetwork, retry: { attempts: 2, baseDelayMs: 20 } })
      .catch((error: Error) => {
        seen.push(error.message);
        throw error;
      });
  const generated = (namespace: string, name: string, image: string, extra: Partial<GeneratedApp> = {}, more: Partial<DeployRequest> = {}) =>
    deploy({ namespace, createNamespace: true, image, workload: { kind: 'generated', app: app(name, extra) }, ...more });
  const deployment = (namespace: string, name: string) => sim.get('Deployment', namespace, name) as Obj | undefined;
  const livePods = (namespace: string, prefix: string) => (sim.list('Pod', namespace) as Obj[])
    .filter((pod) => pod.metadata.name.startsWith(`${prefix}-`) && !pod.metadata.deletionTimestamp);
  const served = async (url: string) => (await (await fetch(url)).json()) as { image: string; env: Record<string, string> };

  before(async () => {
    sim = await startClusterSimulator({
      auth: { token: TOKEN }, podReadyDelayMs: 80, loadBalancerDelayMs: 150,
      imageBehaviour: (image) => (image.includes('broken') ? 'pullError' : 'run'),
    });
    cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
  });

  after(async () => {
    await sim?.stop();
  });

  beforeEach(() => {
    lines = [];
    log = recordingLog(lines);
  });

  afterEach(function () {
    seen.push(...lines);
    assert.deepEqual(sim.errors, [], 'the simulator recorded internal errors');
    for (const text of seen) {
      assert.ok(!text.includes(TOKEN), `the API token leaked: ${text}`);
      assert.ok(!text.includes(PASSWORD), `the registry password leaked: ${text}`);
    }
  });

  describe('generated manifests', () => {
    it('first deploy: applies Deployment and Service server-side, rolls out and returns the load balancer address', async () => {
      const result = await generated('web', 'churn', `${REPO}:v1`);
      assert.equal(result.deploymentName, 'churn');
      assert.equal(result.namespace, 'web');
      assert.equal(result.revision, 1);
      assert.equal(result.unchanged, false);
      assert.equal(result.rolledBack, false);
      assert.equal(result.deployedImage, `${REPO}:v1`);
      assert.equal(result.service?.type, 'LoadBalancer');
      assert.match(result.service?.ip ?? '', /^127\./);
      assert.equal(result.service?.url, `http://${result.service?.ip}:8080`);

      const d = deployment('web', 'churn');
      assert.equal(d?.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
      assert.equal(d?.status.availableReplicas, 2);
      assert.ok(d?.metadata.managedFields?.some((m) => m.manager === MANAGER));
      assert.equal((sim.get('Service', 'web', 'churn') as Obj).status.loadBalancer.ingress[0].ip, result.service?.ip);
      const patch = sim.requests.find((r) => r.method === 'PATCH' && r.path === '/apis/apps/v1/namespaces/web/deployments/churn');
      assert.equal(patch?.contentType, 'application/apply-patch+yaml');
      assert.equal(patch?.fieldManager, MANAGER);
      assert.match(patch?.query ?? '', /force=true/);
      const answer = await served(result.service!.url!);
      assert.equal(answer.image, `${REPO}:v1`);
      assert.deepEqual(answer.env, { MODEL_VERSION: '7' });
      assert.ok(lines.some((line) => line.includes("Applied Deployment 'churn' in namespace 'web'")));
    });

    it('update: a new image rolls out as revision 2 and every pod runs it', async () => {
      const result = await generated('web', 'churn', `${REPO}:v2`);
      assert.equal(result.revision, 2);
      assert.equal(result.unchanged, false);
      assert.equal(result.deployedImage, `${REPO}:v2`);
      const pods = livePods('web', 'churn');
      assert.equal(pods.length, 2);
      assert.ok(pods.every((pod) => pod.spec.containers[0].image === `${REPO}:v2`), 'old pods still running');
      assert.equal((await served(result.service!.url!)).image, `${REPO}:v2`);
    });

    it('no-op: the same inputs leave the generation, revision and ReplicaSets alone, without watching', async () => {
      const generation = deployment('web', 'churn')?.metadata.generation;
      const replicaSets = sim.list('ReplicaSet', 'web').length;
      const from = sim.requests.length;
      const result = await generated('web', 'churn', `${REPO}:v2`);
      assert.equal(result.unchanged, true);
      assert.equal(result.revision, 2);
      assert.equal(result.deployedImage, `${REPO}:v2`);
      assert.ok(result.service?.url);
      assert.equal(deployment('web', 'churn')?.metadata.generation, generation);
      assert.equal(sim.list('ReplicaSet', 'web').length, replicaSets);
      assert.ok(!sim.requests.slice(from).some((r) => /watch=(true|1)/.test(r.query)), 'a watch was opened');
      assert.ok(lines.some((line) => line.includes("Deployment 'churn' already runs this pod template (revision 2)")));
    });

    it('ClusterIP service: returns the cluster IP at once, no URL, smoke test skipped', async () => {
      const result = await generated('internal', 'scorer', `${REPO}:v1`, { serviceType: 'ClusterIP', replicas: 1 },
        { smokeTest: { path: '/healthz', attempts: 1, intervalMs: 10 } });
      assert.equal(result.service?.type, 'ClusterIP');
      assert.match(result.service?.ip ?? '', /^10\./);
      assert.equal(result.service?.url, undefined);
      assert.equal((sim.get('Service', 'internal', 'scorer') as Obj).spec.clusterIP, result.service?.ip);
      assert.ok(lines.some((line) => /^(WARNING )?Smoke test skipped: service 'scorer' is of type ClusterIP/.test(line)), lines.join('\n'));
      assert.ok(!lines.some((line) => line.includes('Waiting up to') && line.includes('load balancer')));
    });

    it('logs the Azure DNS label but reports no hostname, since the region is not known', async () => {
      const result = await generated('dns', 'labelled', `${REPO}:v1`, { dnsLabel: 'churn-demo', replicas: 1 });
      assert.equal(result.service?.hostname, undefined);
      assert.match(result.service?.url ?? '', /^http:\/\/127\./);
      assert.equal(sim.loadBalancers().find((lb) => lb.name === 'labelled')?.dnsLabel, 'churn-demo');
      assert.ok(lines.some((line) => line.includes("Azure DNS label 'churn-demo'") && line.includes('churn-demo.<region>.cloudapp.azure.com')));
    });
  });

  describe('namespaces and pull secrets', () => {
    it('creates a missing namespace when allowed', async () => {
      assert.equal(sim.get('Namespace', '', 'fresh'), undefined);
      await generated('fresh', 'app', `${REPO}:v1`, { replicas: 1, serviceType: 'ClusterIP' });
      const namespace = sim.get('Namespace', '', 'fresh') as Obj;
      assert.equal(namespace.metadata.name, 'fresh');
      assert.ok(deployment('fresh', 'app'));
      assert.ok(lines.includes("Created namespace 'fresh'."));
      assert.equal(await ensureNamespace(cluster, 'fresh', false, log), false, 'an existing namespace is fine without createNamespace');
    });

    it('refuses a missing namespace when creating is off, naming the input, and applies nothing', async () => {
      const error = reportedByDeploy(await rejection(generated('absent', 'app', `${REPO}:v1`, {}, { createNamespace: false })), { setting: 'namespace', key: 'DeployNamespaceMissing' });
      assert.equal(error.input, 'namespace');
      assert.match(error.message, /^Input 'namespace': namespace 'absent' does not exist.*createNamespace/);
      assert.equal(sim.get('Namespace', '', 'absent'), undefined);
      assert.equal(deployment('absent', 'app'), undefined);
    });

    it('creates, then updates, a dockerconfigjson pull secret that the Deployment references', async () => {
      const secret = (password: string) => ({ name: 'acr-pull', registry: 'example.azurecr.io', username: 'puller', password });
      await generated('private', 'app', `${REPO}:v1`, { replicas: 1 }, { imagePullSecret: secret(`${PASSWORD}-old`) });
      const read = () => {
        const stored = sim.get('Secret', 'private', 'acr-pull') as Obj;
        assert.equal(stored.type, 'kubernetes.io/dockerconfigjson');
        return JSON.parse(Buffer.from(stored.data['.dockerconfigjson'], 'base64').toString('utf8'));
      };
      assert.equal(read().auths['example.azurecr.io'].password, `${PASSWORD}-old`);
      assert.deepEqual(deployment('private', 'app')?.spec.template.spec.imagePullSecrets, [{ name: 'acr-pull' }]);

      await generated('private', 'app', `${REPO}:v1`, { replicas: 1 }, { imagePullSecret: secret(PASSWORD) });
      const auth = read().auths['example.azurecr.io'];
      assert.equal(auth.username, 'puller');
      assert.equal(auth.password, PASSWORD);
      assert.equal(Buffer.from(auth.auth, 'base64').toString(), `puller:${PASSWORD}`);
      assert.equal(sim.list('Secret', 'private').length, 1);
    });
  });

  describe('user manifests', () => {
    const yaml = (name: string) => `
apiVersion: v1
kind: ConfigMap
metadata: { name: ${name}-settings }
data: { THRESHOLD: "0.75" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, labels: { app: ${name} } }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name}, tier: web } }
    spec:
      containers:
      - name: app
        image: ${REPO}:placeholder
        ports: [{ containerPort: 8080 }]
        env:
        - name: THRESHOLD
          valueFrom: { configMapKeyRef: { name: ${name}-settings, key: THRESHOLD } }
---
apiVersion: v1
kind: Service
metadata: { name: ${name}-lb }
spec:
  type: LoadBalancer
  selector: { app: ${name} }
  ports: [{ port: 8081, targetPort: 8080 }]
`;
    const documents = (name: string, image: string, extra: KubeObject[] = []) =>
      substituteImage([...parseManifests([{ source: 'app.yaml', text: yaml(name) }]), ...extra], { image }).documents;

    it('applies a multi-document manifest with a ConfigMap; the pods read it through the load balancer', async () => {
      const result = await deploy({ namespace: 'custom', createNamespace: true, image: `${REPO}:v3`, workload: { kind: 'manifests', documents: documents('scorer', `${REPO}:v3`) } });
      assert.equal((sim.get('ConfigMap', 'custom', 'scorer-settings') as Obj).data.THRESHOLD, '0.75');
      assert.equal(result.deploymentName, 'scorer');
      assert.equal(result.service?.port, 8081);
      const answer = await served(result.service!.url!);
      assert.equal(answer.image, `${REPO}:v3`);
      assert.deepEqual(answer.env, { THRESHOLD: '0.75' });
    });

    it('stops at a kind the cluster does not serve, naming kind, apiVersion and document, before applying anything', async () => {
      const widget = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'gizmo' } };
      let error = await rejection(deploy({ namespace: 'kinds', image: `${REPO}:v1`, workload: { kind: 'manifests', documents: documents('kinds', `${REPO}:v1`, [widget]) } }));
      assert.ok(error instanceof TaskError);
      assert.equal(error.key, 'KubeUnknownKind');
      assert.match(error.message, /Widget 'gizmo'.*kind 'Widget' in apiVersion 'example\.com\/v1'/);
      assert.equal(sim.get('ConfigMap', 'kinds', 'kinds-settings'), undefined, 'documents before the bad one were applied');

      const typo = { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'oops' } };
      error = await rejection(applyObjects(cluster, [typo], { namespace: 'kinds', log }));
      assert.equal((error as TaskError).key, 'KubeUnknownKind');
      assert.match(error.message, /kind 'Deploymnet' in apiVersion 'apps\/v1' \(apps\/v1 has no kind Deploymnet\)/);
    });

    it('wants at least one Deployment, and each once', async () => {
      const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'only' }, data: {} };
      let error = await rejection(deploy({ namespace: 'none', image: `${REPO}:v1`, workload: { kind: 'manifests', documents: [config] } }));
      assert.equal((error as TaskError).key, 'DeployNoDeployment');
      assert.match(error.message, /no Deployment, StatefulSet or DaemonSet \(they hold ConfigMap 'only'\)/);
      const twice = [...documents('same', `${REPO}:v1`), ...documents('same', `${REPO}:v1`)];
      error = await rejection(deploy({ namespace: 'twice', image: `${REPO}:v1`, workload: { kind: 'manifests', documents: twice } }));
      assert.equal((error as TaskError).key, 'DeployDeploymentTwice');
      // One names the request's namespace, the other none: the same Deployment in the cluster.
      const named = documents('same', `${REPO}:v1`).map((document) => (document.kind === 'Deployment' ? { ...document, metadata: { ...document.metadata, namespace: 'twice' } } : document));
      error = await rejection(deploy({ namespace: 'twice', image: `${REPO}:v1`, workload: { kind: 'manifests', documents: [...documents('same', `${REPO}:v1`), ...named] } }));
      assert.equal((error as TaskError).key, 'DeployDeploymentTwice');
      // OnDelete: no rollout to watch, refused before anything is applied.
      for (const kind of ['StatefulSet', 'DaemonSet']) {
        const onDelete = { apiVersion: 'apps/v1', kind, metadata: { name: 'manual' }, spec: { updateStrategy: { type: 'OnDelete' }, selector: { matchLabels: { app: 'manual' } }, template: { metadata: { labels: { app: 'manual' } }, spec: { containers: [{ name: 'app', image: `${REPO}:v1` }] } } } };
        error = await rejection(deploy({ namespace: 'ondelete', image: `${REPO}:v1`, workload: { kind: 'manifests', documents: [onDelete] } }));
        assert.equal((error as TaskError).key, 'DeployStatefulSetOnDelete');
        assert.match(error.message, new RegExp(`Input 'manifests': ${kind} 'manual' uses the OnDelete update strategy`));
      }
      assert.equal(sim.get('Namespace', '', 'none'), undefined);
      assert.equal(sim.get('Namespace', '', 'twice'), undefined);
      assert.equal(sim.get('Namespace', '', 'ondelete'), undefined);
    });

    it('puts cluster-scoped objects in no namespace', async () => {
      const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-ml', namespace: 'ignored' } };
      const [applied] = await applyObjects(cluster, [namespace], { namespace: 'default', log });
      assert.equal(applied.metadata?.namespace, undefined);
      assert.ok(sim.get('Namespace', '', 'team-ml'));
    });
  });

  describe('kubeconfig', () => {
    const expectInputError = (text: string, key: string, pattern?: RegExp) => {
      const failure = (() => {
        try {
          connectCluster(text, { network: testNetwork });
        } catch (caught) {
          return caught;
        }
        return assert.fail('connectCluster accepted it');
      })();
      const error = reportedByDeploy(failure, { setting: 'kubeconfig', key });
      seen.push(error.message);
      assert.equal(error.input, 'kubernetesServiceConnection');
      assert.match(error.message, /^Input 'kubernetesServiceConnection': /);
      if (pattern) assert.match(error.message, pattern);
      return error;
    };

    it('rejects malformed YAML without quoting it', () => {
      const broken = sim.kubeconfig().replace('current-context: simulator', `current-context: [simulator\n  token: ${TOKEN}`);
      expectInputError(broken, 'KubeconfigMalformed', /not valid YAML \(.+ at line \d+, column \d+\)/);
      expectInputError('just a string', 'KubeconfigMalformed', /not a YAML mapping/);
      expectInputError(sim.kubeconfig().replace(/ {4}server: .*\n/, ''), 'KubeconfigMalformed', /cluster of context 'simulator' has no https server URL/);
    });

    it('rejects a kubeconfig without current-context, or whose context names a missing cluster or user', () => {
      expectInputError(sim.kubeconfig().replace('current-context: simulator', ''), 'KubeconfigNoCurrentContext', /contexts in it: 'simulator'/);
      expectInputError(sim.kubeconfig().replace('current-context: simulator', 'current-context: prod'), 'KubeconfigContextMissing', /'prod'/);
      expectInputError(sim.kubeconfig().replace('    cluster: simulator', '    cluster: aks-prod'), 'KubeconfigMalformed', /context 'simulator' names a cluster the file does not define/);
      expectInputError(sim.kubeconfig().replace('    user: simulator', '    user: deployer'), 'KubeconfigMalformed', /context 'simulator' names a user the file does not define/);
    });

    it('turns a wrong token into a 401 message that says what to refresh, without the token', async () => {
      const wrong = `wrong-${TOKEN}`;
      const other = connectCluster(sim.kubeconfig().replace(TOKEN, wrong), { network: testNetwork });
      const error = await rejection(deployApp({ ...testSettings, namespace: 'web', image: `${REPO}:v1`, workload: { kind: 'generated', app: app('churn') } }, { cluster: other, log, network: testNetwork }));
      seen.push(error.message);
      assert.ok(error instanceof KubeApiError);
      assert.equal(error.key, 'KubeApiUnauthorized');
      assert.equal(error.status, 401);
      assert.match(error.message, /HTTP 401.*refresh the Kubernetes service connection/);
      assert.ok(!error.message.includes(wrong));
    });
  });

  describe('API failures', () => {
    const apiError = (code: number, message: string) => new ApiException(code, 'Unsuccessful HTTP Request', JSON.stringify({ kind: 'Status', reason: 'Reason', message }), { authorization: `Bearer ${TOKEN}` });

    it('retries 5xx and 429 with backoff, then succeeds', async () => {
      let calls = 0;
      const result = await kubeCall(cluster, 'apply Deployment', async () => {
        calls += 1;
        if (calls === 1) throw apiError(503, 'etcd leader changed');
        if (calls === 2) throw apiError(429, 'too many requests');
        return 'done';
      }, { log, retry: { attempts: 3, baseDelayMs: 10 } });
      assert.equal(result, 'done');
      assert.equal(calls, 3);
      assert.equal(lines.filter((line) => line.startsWith('WARNING The Kubernetes API server failed to apply Deployment')).length, 2, lines.join('\n'));
    });

    it('fails a 4xx at once with the server message, sanitised, and gives up on persistent 5xx', async () => {
      let calls = 0;
      const refused = await rejection(kubeCall(cluster, 'apply Service', async () => {
        calls += 1;
        throw apiError(422, `spec.ports[0].port: Invalid value: 0 (sent with Bearer ${TOKEN})`);
      }, { log }));
      seen.push(refused.message);
      assert.equal(calls, 1);
      assert.equal((refused as TaskError).key, 'KubeApiRefused');
      assert.match(refused.message, /refused to apply Service: HTTP 422 Reason: spec\.ports\[0\]\.port: Invalid value: 0 \(sent with Bearer \*\*\*\)/);

      const forbidden = await rejection(kubeCall(cluster, 'create namespace', () => Promise.reject(apiError(403, 'namespaces is forbidden')), { log, namespace: 'ml' }));
      assert.equal((forbidden as TaskError).key, 'KubeApiForbidden');
      assert.match(forbidden.message, /may not create namespace.*namespaces is forbidden.*namespace 'ml'.*RoleBinding/);

      calls = 0;
      const down = await rejection(kubeCall(cluster, 'read service', async () => {
        calls += 1;
        throw new NetworkError('127.0.0.1:1', 'ECONNRESET', 'read ECONNRESET');
      }, { log, retry: { attempts: 3, baseDelayMs: 5 } }));
      seen.push(down.message);
      assert.equal(calls, 3);
      assert.equal((down as TaskError).key, 'KubeApiUnavailable');
      assert.match(down.message, /could not read service after 3 attempts: read ECONNRESET\. Check that the cluster is running/);
    });
  });

  describe('service address and smoke test', () => {
    it('passes the smoke test through the load balancer', async () => {
      const result = await generated('smoke', 'ok', `${REPO}:v1`, { replicas: 1 }, { smokeTest: { path: '/healthz?probe=1', attempts: 5, intervalMs: 50 } });
      assert.ok(result.service?.url);
      assert.ok(lines.some((line) => line === `Smoke test of ${result.service?.url}/healthz passed: HTTP 200 after 1 attempt(s).`), lines.join('\n'));
    });

    it('fails the smoke test when no pod is ready (503), naming the URL and the last status', async () => {
      const error = await rejection(generated('smoke', 'idle', `${REPO}:v1`, { replicas: 0 }, { smokeTest: { path: '/score', attempts: 3, intervalMs: 30 } }));
      assert.equal((error as TaskError).key, 'DeploySmokeTestFailed');
      const ip = (sim.get('Service', 'smoke', 'idle') as Obj).status.loadBalancer.ingress[0].ip;
      assert.match(error.message, new RegExp(`Smoke test of http://${ip.replace(/\./g, '\\.')}:8080/score failed after 3 attempts; the last attempt got HTTP 503`));
    });

    it('follows a redirect of the app, through the network layer', async () => {
      const server = http.createServer((incoming, answer) => {
        if (incoming.url === '/start') answer.writeHead(302, { location: '/ready' }).end();
        else answer.writeHead(incoming.url === '/ready' ? 200 : 404).end('ok');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as net.AddressInfo;
        assert.deepEqual(await smokeTest(`http://127.0.0.1:${port}/start`, { attempts: 2, intervalMs: 10, timeoutMs: 1000, log, network: testNetwork }), { status: 200, attempts: 1 });
      } finally {
        server.close();
      }
    });

    it('fails the smoke test on a connection error, retrying in between', async () => {
      const closed = await closedPort();
      const started = Date.now();
      const error = await rejection(smokeTest(`http://127.0.0.1:${closed}/nothing`, { attempts: 3, intervalMs: 40, timeoutMs: 1000, log, network: testNetwork }));
      assert.ok(Date.now() - started >= 40, 'two pauses of at least half the interval (jitter)');
      assert.match(error.message, new RegExp(`Smoke test of http://127\\.0\\.0\\.1:${closed}/nothing failed after 3 attempts; the last attempt got ECONNREFUSED`));
      assert.equal(lines.filter((line) => line.startsWith('DEBUG smoke test ')).length, 3, lines.join('\n'));
    });
  });

  describe('failing rollouts', () => {
    const fragile = (image: string): KubeObject[] => [
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'fragile' },
        spec: {
          replicas: 2, progressDeadlineSeconds: 2, selector: { matchLabels: { app: 'fragile' } },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: { metadata: { labels: { app: 'fragile' } }, spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }] }] } },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'fragile' }, spec: { type: 'LoadBalancer', selector: { app: 'fragile' }, ports: [{ port: 8082, targetPort: 8080 }] } },
    ];
    const manifests = (image: string, more: Partial<DeployRequest> = {}) =>
      deploy({ namespace: 'rollback', image, workload: { kind: 'manifests', documents: fragile(image) }, ...more });

    const worker = (image: string): KubeObject => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'worker' },
      spec: {
        replicas: 1, progressDeadlineSeconds: 2, selector: { matchLabels: { app: 'worker' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: { metadata: { labels: { app: 'worker' } }, spec: { containers: [{ name: 'worker', image }] } },
      },
    });
    const pair = (api: string, work: string) => deploy({ namespace: 'pair', image: api, workload: { kind: 'manifests', documents: [...fragile(api), worker(work)] } });

    it('rolls out every Deployment, the one running image as the primary, and rolls all of them back when one fails', async () => {
      const first = await pair(`${REPO}:v1`, 'example.azurecr.io/worker:v1');
      assert.equal(first.deploymentName, 'fragile');
      assert.deepEqual(first.workloads.map((w) => ({ ...w, images: [...w.images] })), [
        { kind: 'Deployment', name: 'fragile', namespace: 'pair', revision: 1, images: [`${REPO}:v1`] },
        { kind: 'Deployment', name: 'worker', namespace: 'pair', revision: 1, images: ['example.azurecr.io/worker:v1'] },
      ]);
      assert.equal(livePods('pair', 'worker').length, 1);

      // The api's new image is fine, the worker's cannot be pulled: both go back to v1.
      const error = await rejection(pair(`${REPO}:v2`, 'example.azurecr.io/worker:broken'));
      assert.ok(error instanceof RolloutFailedError, String(error));
      assert.equal(error.deployment, 'worker');
      assert.equal(error.rolledBack, true);
      assert.deepEqual(error.previousImages, ['example.azurecr.io/worker:v1']);
      assert.equal(deployment('pair', 'worker')?.spec.template.spec.containers[0].image, 'example.azurecr.io/worker:v1');
      assert.equal(deployment('pair', 'fragile')?.spec.template.spec.containers[0].image, `${REPO}:v1`, 'the api was rolled back too');
      assert.equal(deployment('pair', 'fragile')?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
      assert.ok(lines.some((line) => /fragile/.test(line) && /revision 1/.test(line) && /rolled back|Rolled back|rolling back|Rolling back/i.test(line)), lines.join('\n'));
    });

    const database = (image: string): KubeObject => ({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' },
      spec: {
        replicas: 2, serviceName: 'db', selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image }] } },
      },
    });

    it('rolls out a StatefulSet by kubectl\'s rules and, when its update fails, restores its template, replaces the pod it left and rolls the api back too', async () => {
      // A StatefulSet has no progress deadline: like kubectl, its failure is the timeout.
      const run = (api: string, db: string) => deploy({ namespace: 'stateful', image: api, rolloutTimeoutMs: 5000, workload: { kind: 'manifests', documents: [...fragile(api), database(db)] } });
      const first = await run(`${REPO}:v1`, 'example.azurecr.io/db:v1');
      assert.deepEqual(first.workloads.map((w) => [w.kind, w.name, [...w.images]]), [['Deployment', 'fragile', [`${REPO}:v1`]], ['StatefulSet', 'db', ['example.azurecr.io/db:v1']]]);
      const sts = sim.get('StatefulSet', 'stateful', 'db') as any;
      assert.equal(sts.status.readyReplicas, 2);
      assert.equal(sts.status.currentRevision, sts.status.updateRevision);
      assert.deepEqual(statefulSetStatus(sts), { done: true, failed: false, message: 'partitioned roll out complete: 2 new pods have been updated...' });
      assert.equal(first.workloads[1].revision, 1);
      // A spec edit that keeps the template (replicas) moves the generation, not the revision kubectl rollout history shows.
      const scaled = await deploy({ namespace: 'stateful', image: `${REPO}:v1`, rolloutTimeoutMs: 5000, workload: { kind: 'manifests', documents: [...fragile(`${REPO}:v1`), { ...database('example.azurecr.io/db:v1'), spec: { ...(database('example.azurecr.io/db:v1').spec as object), replicas: 3 } } as KubeObject] } });
      assert.equal((sim.get('StatefulSet', 'stateful', 'db') as any).metadata.generation, 2);
      assert.equal(scaled.workloads[1].revision, 1, 'the ControllerRevision\'s number, not the generation');
      await run(`${REPO}:v1`, 'example.azurecr.io/db:v1');
      // The log names each workload by its kind.
      assert.ok(lines.some((line) => /^Waiting up to \d+ s for statefulset 'db' to roll out image example\.azurecr\.io\/db:v1/.test(line)), lines.join('\n'));
      assert.ok(lines.some((line) => /^StatefulSet 'db' in namespace 'stateful' rolled out revision/.test(line)), lines.join('\n'));
      assert.ok(!lines.some((line) => /[Dd]eployment 'db'/.test(line)), 'never called a deployment');

      // The db's new image cannot be pulled: its last pod never becomes Ready and blocks the update.
      const error = await rejection(run(`${REPO}:v2`, 'example.azurecr.io/db:broken'));
      assert.ok(error instanceof RolloutFailedError, String(error));
      assert.equal(error.deployment, 'db');
      assert.match(error.message, /^StatefulSet 'db' in namespace 'stateful' did not roll out image example\.azurecr\.io\/db:broken/);
      assert.equal(error.rolledBack, true, error.message);
      assert.deepEqual(error.previousImages, ['example.azurecr.io/db:v1']);
      const after = sim.get('StatefulSet', 'stateful', 'db') as any;
      assert.equal(after.spec.template.spec.containers[0].image, 'example.azurecr.io/db:v1');
      assert.equal(after.status.readyReplicas, 2);
      assert.equal(after.status.currentRevision, sts.status.currentRevision, 'back at the revision it ran before');
      assert.deepEqual(livePods('stateful', 'db').map((pod: any) => pod.spec.containers[0].image), ['example.azurecr.io/db:v1', 'example.azurecr.io/db:v1']);
      assert.ok(lines.some((line) => /Deleting pod 'db-1'/.test(line)), lines.join('\n'));
      assert.equal(deployment('stateful', 'fragile')?.spec.template.spec.containers[0].image, `${REPO}:v1`, 'the api is rolled back too');
    });

    const agent = (image: string): KubeObject => ({
      apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image }] } } },
    });

    it('rolls out a DaemonSet by kubectl\'s rules and, when its update fails, restores its template, replaces the pod it left and rolls the api back too', async () => {
      // A DaemonSet has no progress deadline either: its failure is the timeout.
      const run = (api: string, image: string) => deploy({ namespace: 'daemons', image: api, rolloutTimeoutMs: 5000, workload: { kind: 'manifests', documents: [...fragile(api), agent(image)] } });
      const first = await run(`${REPO}:v1`, 'example.azurecr.io/agent:v1');
      assert.deepEqual(first.workloads.map((w) => [w.kind, w.name, w.revision, [...w.images]]), [['Deployment', 'fragile', 1, [`${REPO}:v1`]], ['DaemonSet', 'agent', 1, ['example.azurecr.io/agent:v1']]]);
      const ds = sim.get('DaemonSet', 'daemons', 'agent') as any;
      assert.equal(ds.status.numberAvailable, ds.status.desiredNumberScheduled);
      assert.deepEqual(daemonSetStatus(ds), { done: true, failed: false, message: 'daemon set "agent" successfully rolled out' });
      const hash = (livePods('daemons', 'agent')[0] as any)?.metadata.labels?.['controller-revision-hash'];
      assert.ok(hash);

      // The agent's new image cannot be pulled: its pod never becomes Ready; both workloads go back.
      const error = await rejection(run(`${REPO}:v2`, 'example.azurecr.io/agent:broken'));
      assert.ok(error instanceof RolloutFailedError, String(error));
      assert.equal(error.deployment, 'agent');
      assert.equal(error.reason, 'Timeout');
      assert.match(error.message, /^DaemonSet 'agent' in namespace 'daemons' did not roll out image example\.azurecr\.io\/agent:broken/);
      assert.ok(lines.some((line) => /^Waiting up to \d+ s for daemonset 'agent' to roll out/.test(line)), lines.join('\n'));
      assert.equal(error.rolledBack, true, error.message);
      assert.deepEqual(error.previousImages, ['example.azurecr.io/agent:v1']);
      const after = sim.get('DaemonSet', 'daemons', 'agent') as any;
      assert.equal(after.spec.template.spec.containers[0].image, 'example.azurecr.io/agent:v1');
      assert.ok(daemonSetStatus(after).done, daemonSetStatus(after).message);
      assert.deepEqual(livePods('daemons', 'agent').map((pod: any) => [pod.spec.containers[0].image, pod.metadata.labels['controller-revision-hash']]), [['example.azurecr.io/agent:v1', hash]]);
      assert.ok(lines.some((line) => /Rolling DaemonSet 'agent' back/.test(line)), lines.join('\n'));
      assert.equal(deployment('daemons', 'fragile')?.spec.template.spec.containers[0].image, `${REPO}:v1`, 'the api is rolled back too');

      // A good image rolls out and is listed.
      const good = await run(`${REPO}:v1`, 'example.azurecr.io/agent:v2');
      assert.deepEqual(good.workloads.map((w) => [w.kind, w.name, [...w.images]]), [['Deployment', 'fragile', [`${REPO}:v1`]], ['DaemonSet', 'agent', ['example.azurecr.io/agent:v2']]]);
      // v1 (1), broken (2), v1 again (re-stamped 3), v2 (4): the numbers kubectl rollout history shows.
      assert.equal(good.workloads[1].revision, 4);
      const history = sim.list('ControllerRevision', 'daemons') as any[];
      assert.deepEqual(history.map((one) => one.revision).sort(), [2, 3, 4]);
      assert.deepEqual(livePods('daemons', 'agent').map((pod: any) => pod.spec.containers[0].image), ['example.azurecr.io/agent:v2']);
    });

    it('prunes, after a successful rollout only, what earlier runs applied and the manifests no longer hold', async () => {
      const extra: KubeObject[] = [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old-settings' }, data: { A: '1' } } as KubeObject,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pruned-scratch' } } as KubeObject,
        // autoscaling is served at v2 only: once dropped, its kind is found through discovery, not at <group>/v1.
        { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'fragile-scaler' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'fragile' }, minReplicas: 1, maxReplicas: 3 } } as KubeObject,
      ];
      const run = (api: string, documents: KubeObject[]) => deploy({ namespace: 'prune', image: api, prune: true, workload: { kind: 'manifests', documents } });
      await run(`${REPO}:v1`, [...fragile(`${REPO}:v1`), worker('example.azurecr.io/worker:v1'), ...extra]);
      const parent = sim.get('Secret', 'prune', 'fragile-applyset') as Obj;
      const id = (parent.metadata as unknown as { labels: Record<string, string> }).labels['applyset.kubernetes.io/id'];
      assert.match(id, /^applyset-[A-Za-z0-9_-]{43}-v1$/);
      assert.equal(parent.metadata.annotations?.['applyset.kubernetes.io/contains-group-kinds'], 'ConfigMap,Deployment.apps,HorizontalPodAutoscaler.autoscaling,Namespace,Service');
      assert.equal((sim.get('Deployment', 'prune', 'worker') as any).metadata.labels['applyset.kubernetes.io/part-of'], id);
      // Not the app's: applied without the label, it must survive any prune.
      await applyObjects(cluster, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'someone-elses' }, data: {} } as KubeObject], { namespace: 'prune', log });

      // The worker and the extras leave the manifests, but the api fails: nothing is deleted.
      const failed = await rejection(run(`${REPO}:broken`, fragile(`${REPO}:broken`)));
      assert.ok(failed instanceof RolloutFailedError, String(failed));
      assert.ok(sim.get('Deployment', 'prune', 'worker') && sim.get('ConfigMap', 'prune', 'old-settings'), 'a failed run prunes nothing');
      assert.ok(!lines.some((line) => /Pruned/.test(line)), lines.join('\n'));

      await run(`${REPO}:v2`, fragile(`${REPO}:v2`));
      assert.equal(sim.get('Deployment', 'prune', 'worker'), undefined);
      assert.equal(sim.get('ConfigMap', 'prune', 'old-settings'), undefined);
      assert.equal(sim.get('HorizontalPodAutoscaler', 'prune', 'fragile-scaler'), undefined);
      const scratch = sim.get('Namespace', '', 'pruned-scratch') as Obj | undefined;
      assert.ok(!scratch || scratch.metadata.deletionTimestamp, 'the cluster-scoped Namespace is deleted');
      assert.ok(sim.get('ConfigMap', 'prune', 'someone-elses'), 'an object outside the set stays');
      assert.ok(sim.get('Deployment', 'prune', 'fragile') && sim.get('Service', 'prune', 'fragile'));
      assert.deepEqual(lines.filter((line) => /Pruned/.test(line)).map((line) => line.replace(/:.*/, '')).sort(), [
        "Pruned ConfigMap 'old-settings' in namespace 'prune'", "Pruned Deployment 'worker' in namespace 'prune'", "Pruned HorizontalPodAutoscaler 'fragile-scaler' in namespace 'prune'", "Pruned Namespace 'pruned-scratch'",
      ]);
      assert.equal((sim.get('Secret', 'prune', 'fragile-applyset') as Obj).metadata.annotations?.['applyset.kubernetes.io/contains-group-kinds'], 'Deployment.apps,Service');
    });

    it('rolls back when the progress deadline passes, and says so with the pods\' diagnostics', async () => {
      const first = await manifests(`${REPO}:v1`);
      assert.equal(first.revision, 1);
      const error = await rejection(manifests(`${REPO}:broken`));
      assert.ok(error instanceof RolloutFailedError, String(error));
      assert.equal(error.key, 'DeployRolloutFailedRolledBack');
      assert.equal(error.reason, 'ProgressDeadlineExceeded');
      assert.equal(error.rolledBack, true);
      assert.equal(error.revision, 2);
      assert.equal(error.previousRevision, 3, 'the controller re-stamps the old ReplicaSet as revision 3');
      assert.deepEqual(error.previousImages, [`${REPO}:v1`]);
      assert.match(error.message, /did not roll out image example\.azurecr\.io\/churn:broken/);
      assert.match(error.message, /now runs revision 3 with image example\.azurecr\.io\/churn:v1/);
      assert.match(String(error.diagnostics), /ImagePullBackOff|ErrImagePull/);
      assert.ok(error.message.includes(String(error.diagnostics)));

      const d = deployment('rollback', 'fragile');
      assert.equal(d?.spec.template.spec.containers[0].image, `${REPO}:v1`);
      assert.equal(d?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
      const ip = (sim.get('Service', 'rollback', 'fragile') as Obj).status.loadBalancer.ingress[0].ip;
      assert.equal((await served(`http://${ip}:8082/`)).image, `${REPO}:v1`);
    });

    it('deploys again after a rollback, taking the image field back from the rollback\'s patch', async () => {
      const result = await manifests(`${REPO}:v2`);
      assert.equal(result.revision, 4);
      assert.equal(result.deployedImage, `${REPO}:v2`);
      assert.equal(deployment('rollback', 'fragile')?.spec.template.spec.containers[0].image, `${REPO}:v2`);
    });

    it('leaves a failed rollout alone when rollbackOnFailure is off (rollout timeout)', async () => {
      await generated('stuck', 'churn', `${REPO}:v1`, { replicas: 1, serviceType: 'ClusterIP' });
      const error = await rejection(generated('stuck', 'churn', `${REPO}:broken-2`, { replicas: 1, serviceType: 'ClusterIP' }, { rollbackOnFailure: false, rolloutTimeoutMs: 1200 }));
      assert.ok(error instanceof RolloutFailedError, String(error));
      assert.equal(error.key, 'DeployRolloutFailed');
      assert.equal(error.reason, 'Timeout');
      assert.equal(error.rolledBack, false);
      assert.equal(deployment('stuck', 'churn')?.spec.template.spec.containers[0].image, `${REPO}:broken-2`);
      assert.ok(livePods('stuck', 'churn').some((pod) => pod.spec.containers[0].image === `${REPO}:v1`), 'maxUnavailable 0 keeps the old pod');
    });

    it('reports that there is nothing to roll back to on a first deploy', async () => {
      const error = await rejection(generated('first', 'churn', `${REPO}:broken-3`, { replicas: 1, serviceType: 'ClusterIP' }, { rolloutTimeoutMs: 1000 }));
      assert.ok(error instanceof RolloutFailedError, String(error));
      assert.equal(error.key, 'DeployRolloutFailedNoHistory');
      assert.equal(error.rolledBack, false);
      assert.equal(error.noHistory, true);
      assert.equal(deployment('first', 'churn')?.spec.template.spec.containers[0].image, `${REPO}:broken-3`);
    });
  });

  describe('a load balancer that never gets an address', () => {
    let slow: ClusterSimulator;
    before(async () => {
      slow = await startClusterSimulator({ auth: { token: TOKEN }, loadBalancerDelayMs: 60_000, podReadyDelayMs: 50 });
    });
    after(async () => {
      await slow?.stop();
    });

    it('times out with a message naming the service, the wait and its events', async () => {
      const slowCluster = connectCluster(slow.kubeconfig(), { network: testNetwork });
      await ensureNamespace(slowCluster, 'edge', true, log);
      const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front' }, spec: { type: 'LoadBalancer', selector: { app: 'front' }, ports: [{ port: 8080 }] } };
      await applyObjects(slowCluster, [service], { namespace: 'edge', log });
      // The load balancer gets its address only after 60 s; the message names our 0.7 s wait (rounded), so
      // that wait ended it, not the suite's timeout.
      const error = await rejection(waitForServiceAddress(slowCluster, 'edge', 'front', { timeoutMs: 700, log }));
      seen.push(error.message);
      assert.equal((error as TaskError).key, 'DeployServiceNoAddress');
      assert.match(error.message, /Service 'front' in namespace 'edge' has no external address after 1 s.*public IP quota.*Normal EnsuringLoadBalancer: Ensuring load balancer/s);
      assert.equal((slow.get('Service', 'edge', 'front') as Obj).status?.loadBalancer?.ingress, undefined);
    });
  });
});
