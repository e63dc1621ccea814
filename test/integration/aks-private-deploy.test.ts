/**
 * Deploy to a private AKS cluster through AKS run command: the core (kube/privateDeploy.ts,
 * azure/aksRunCommand.ts) against the AKS stand-in, whose runCommand unzips the context and runs the
 * command with bash and the real kubectl against the cluster simulator. A good image rolls out; a
 * bad one fails its rollout status and is undone to the previous image; bad names never reach the
 * shell; a command result is polled (progress logged per state) until it is final.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { runAksCommand } from '../../tasks/common/azure/aksRunCommand';
import { resolveRunCommandTarget } from '../../tasks/common/azure/clusterAccess';
import { readAzureRmConnection } from '../../tasks/common/azure/connection';
import { fakeEndpoint } from '../support/fakeAzureEndpoint';
import { SettingError, TaskError } from '../../tasks/common/errors';
import type { Log } from '../../tasks/common/log';
import { Network } from '../../tasks/common/net/network';
import { retryPolicy } from '../../tasks/common/net/retry';
import { networkSettings } from '../../tasks/common/net/settings';
import type { DeployRequest } from '../../tasks/common/kube/deploy';
import { deployPrivate, fieldManager } from '../../tasks/common/kube/privateDeploy';
import { RolloutFailedError } from '../../tasks/common/kube/rolloutFailedError';
import type { KubeObject } from '../../tasks/common/kube/types';
import { type AksStandIn, aksServerAppId, startAksStandIn } from '../support/aksStandIn';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { type EntraStandIn, startEntraStandIn } from '../support/entraStandIn';
import { createClientCertificate, createTestCa } from '../support/tls';

const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const clientId = '11111111-1111-4111-8111-111111111111';
const subscriptionId = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';

function deployment(name: string, image: string): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } } },
  } as KubeObject;
}

function request(documents: KubeObject[], image: string): DeployRequest {
  return { namespace: 'private-ns', createNamespace: false, image, workload: { kind: 'manifests', documents }, rolloutTimeoutMs: 6000, rollbackOnFailure: true, loadBalancerTimeoutMs: 1000 };
}

describe('Deploy to a private AKS cluster through AKS run command', function () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aks-private-'));
  const ca = createTestCa(dir);
  const network = new Network(networkSettings({ tls: { ca: [fs.readFileSync(ca.caCert, 'utf8')] } }));
  const transport = { network, retry: retryPolicy({ attempts: 2, baseDelayMs: 10 }) };
  let entra: EntraStandIn;
  let sim: ClusterSimulator;
  let aks: AksStandIn;
  const lines: string[] = [];
  const log: Log = { info: (key, ...args) => lines.push(`${key} ${args.join(' | ')}`), warn: (key, ...args) => lines.push(`warn ${key} ${args.join(' | ')}`), debug: () => {} };
  const credential: TokenCredential = {
    getToken: async (scope) => {
      const asked = Array.isArray(scope) ? scope[0] : (scope as string);
      return { token: entra.issueAccessToken(tenantId, clientId, asked.replace(/\/\.default$/, '')), expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  const target = () => ({ armUrl: aks.url, credential, transport, connectionName: 'Private AKS', subscriptionId, resourceGroup: 'rg-private', clusterName: 'aks-private' });

  before(async () => {
    entra = await startEntraStandIn(ca);
    sim = await startClusterSimulator({ auth: { token: `sim-${Math.random().toString(36).slice(2)}` }, imageBehaviour: (image) => (image.includes(':broken') ? 'pullError' : 'run') });
    fs.mkdirSync(path.join(dir, 'sim'));
    aks = await startAksStandIn({
      tls: ca, verifyToken: entra.verifyAccessToken, tenantId, subscriptionId, clientCertificate: createClientCertificate(path.join(dir, 'kube'), 'aks-client'),
      upstream: { url: sim.url, caPem: sim.caPem, token: sim.token },
      clusters: [{ resourceGroup: 'rg-private', name: 'aks-private', auth: 'entra' }],
      runCommandKubeconfig: sim.writeKubeconfig(path.join(dir, 'sim')),
    });
    const namespace = await runAksCommand(target(), { command: 'kubectl create namespace private-ns' }, { log, pollMs: 100 });
    assert.equal(namespace.exitCode, 0, namespace.logs);
  });

  after(async () => {
    network.close();
    await aks?.close();
    await sim?.stop();
    await entra?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const imageOf = (name: string) => (sim.get('Deployment', 'private-ns', name) as { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined)?.spec.template.spec.containers[0].image;

  it('a command runs in the cluster: its exit code and output come back, its state is logged while it is polled', async () => {
    lines.length = 0;
    const result = await runAksCommand(target(), { command: 'kubectl get namespace private-ns -o name; exit 3' }, { log, pollMs: 100 });
    assert.equal(result.exitCode, 3);
    assert.equal(result.provisioningState, 'Succeeded');
    assert.match(result.logs, /namespace\/private-ns/);
    assert.deepEqual(lines, ['AksRunCommandState aks-private | Running', 'AksRunCommandState aks-private | Succeeded']);
    assert.ok(aks.requests.some((r) => r.method === 'GET' && /commandResults/.test(r.path)), 'the result was polled');
  });

  it('a good image is applied server-side and rolled out; the manifests travel as the context zip', async () => {
    const result = await deployPrivate(request([deployment('api', 'registry.example/api:1')], 'registry.example/api:1'), target(), { log, pollMs: 100 });
    assert.deepEqual(result.workloads.map((w) => [w.kind, w.name, w.namespace, w.images]), [['Deployment', 'api', 'private-ns', ['registry.example/api:1']]]);
    assert.equal(result.deploymentName, 'api');
    assert.equal(result.revision, Number((sim.get('Deployment', 'private-ns', 'api') as { metadata: { annotations: Record<string, string> } }).metadata.annotations['deployment.kubernetes.io/revision']));
    assert.equal(result.deployedImage, 'registry.example/api:1');
    assert.equal(result.modelVerified, false, 'not asked');
    assert.match(result.logs, /successfully rolled out/);
    assert.doesNotMatch(result.logs, /@@amd-/, 'the report lines are read, not shown');
    assert.equal(imageOf('api'), 'registry.example/api:1');
    const run = aks.runCommands.records.at(-1)!;
    assert.deepEqual(run.contextFiles, ['manifests.yaml']);
    assert.match(run.command, new RegExp(`--server-side --force-conflicts --field-manager=${fieldManager}`));
    const managers = ((sim.get('Deployment', 'private-ns', 'api') as { metadata: { managedFields?: { manager: string }[] } }).metadata.managedFields ?? []).map((m) => m.manager);
    assert.ok(managers.includes(fieldManager), `field managers: ${managers.join(', ')}`);
  });

  it('a bad image fails its rollout status and is undone to the previous image; the error carries kubectl\'s words', async () => {
    const failure = await deployPrivate(request([deployment('api', 'registry.example/api:broken')], 'registry.example/api:broken'), target(), { log, pollMs: 100 }).then(() => undefined, (error: unknown) => error);
    assert.ok(failure instanceof TaskError, String(failure));
    assert.equal(failure.key, 'AksPrivateDeployFailed');
    assert.match(String(failure.args[2]), /rolled back|exceeded|timed out/i);
    assert.equal(imageOf('api'), 'registry.example/api:1', 'rolled back to the image before the run');
  });

  const digestA = `sha256:${'a'.repeat(64)}`;
  const digestB = `sha256:${'b'.repeat(64)}`;
  /** A model app: its pods answer GET /version with the digest of their template's annotation (the simulator's scripted app). */
  function modelApp(image: string, served: string): KubeObject[] {
    const app = deployment('model-app', image) as unknown as { spec: { template: { metadata: Record<string, unknown>; spec: { containers: Record<string, unknown>[] } } } };
    app.spec.template.metadata.annotations = { 'ai.model.digest': served };
    app.spec.template.spec.containers[0].ports = [{ containerPort: 8080 }];
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'model-app' }, spec: { type: 'LoadBalancer', selector: { app: 'model-app' }, ports: [{ port: 80, targetPort: 8080 }] } };
    return [app as unknown as KubeObject, service as KubeObject];
  }
  const checked = (image: string, served: string, deployed: string): DeployRequest => ({
    ...request(modelApp(image, served), image), loadBalancerTimeoutMs: 10_000, modelCheck: { digest: deployed, path: '/version', field: 'model_digest' },
  });

  it('the model check runs in the command: each ready pod asked through the pod proxy, judged by the task; the result carries revision, workloads and the load balancer address', async () => {
    lines.length = 0;
    const result = await deployPrivate(checked('registry.example/model-app:1', digestA, digestA), target(), { log, pollMs: 100 });
    assert.equal(result.modelVerified, true);
    const passed = lines.filter((line) => line.startsWith('DeployModelCheckPassed'));
    assert.equal(passed.length, 2, `both replicas asked: ${lines.join('\n')}`);
    for (const line of passed) assert.match(line, new RegExp(`^DeployModelCheckPassed model-app-[a-z0-9]+-[a-z0-9]+ \\| ${digestA}`));
    assert.equal(result.deploymentName, 'model-app');
    assert.equal(result.revision, 1);
    assert.deepEqual(JSON.parse(JSON.stringify(result.workloads)), [{ kind: 'Deployment', name: 'model-app', namespace: 'private-ns', revision: 1, images: ['registry.example/model-app:1'] }]);
    const balancer = sim.loadBalancers().find((lb) => lb.name === 'model-app');
    assert.ok(balancer, 'the simulator gave the Service an address');
    assert.equal(result.service?.type, 'LoadBalancer');
    assert.equal(result.service?.ip, balancer.ip);
    assert.equal(result.service?.url, `http://${balancer.ip}`);
    const asked = sim.requests.filter((r) => /\/pods\/model-app-[^/]+:8080\/proxy\/version$/.test(r.path));
    assert.equal(asked.length, 2, 'asked through the API server\'s pod proxy');
  });

  it('a pod serving another model: the rollout is undone by a second command and the task fails with ModelCheckFailed naming pod, served and deployed digest', async () => {
    const before = aks.runCommands.records.length;
    const failure = await deployPrivate(checked('registry.example/model-app:2', digestB, digestA), target(), { log, pollMs: 100 }).then(() => undefined, (error: unknown) => error);
    assert.ok(failure instanceof RolloutFailedError, String(failure));
    assert.equal(failure.reason, 'ModelCheckFailed');
    assert.equal(failure.rolledBack, true);
    assert.match(failure.detail, new RegExp(`pod 'model-app-[a-z0-9-]+' serves model digest ${digestB}, but ${digestA} was deployed`));
    assert.deepEqual(failure.previousImages, ['registry.example/model-app:1']);
    assert.equal(failure.previousRevision, 3, 'kubectl rollout undo makes the old template the newest revision');
    assert.equal(aks.runCommands.records.length, before + 2, 'the deploy, then the undo');
    assert.match(aks.runCommands.records.at(-1)!.command, /kubectl rollout undo deployment\/model-app -n private-ns/);
    assert.equal((sim.get('Deployment', 'private-ns', 'model-app') as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0].image, 'registry.example/model-app:1');
  });

  it('a StatefulSet beside a Deployment: its revision is its ControllerRevision\'s number; a failing update is undone with kubectl rollout undo statefulset', async () => {
    const db = (image: string, replicas = 2) => ({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' },
      spec: { replicas, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image }] } } },
    } as KubeObject);
    const first = await deployPrivate(request([deployment('web', 'registry.example/web:1'), db('registry.example/db:1')], 'registry.example/web:1'), target(), { log, pollMs: 100 });
    assert.deepEqual(first.workloads.map((w) => [w.kind, w.name, w.revision]), [['Deployment', 'web', 1], ['StatefulSet', 'db', 1]]);
    // Scaling moves the generation but keeps the template: the revision stays.
    const scaled = await deployPrivate(request([deployment('web', 'registry.example/web:1'), db('registry.example/db:1', 3)], 'registry.example/web:1'), target(), { log, pollMs: 100 });
    assert.equal((sim.get('StatefulSet', 'private-ns', 'db') as { metadata: { generation: number } }).metadata.generation, 2);
    assert.deepEqual(scaled.workloads.map((w) => w.revision), [1, 1]);
    assert.equal(scaled.unchanged, false);
    const failure = await deployPrivate(request([deployment('web', 'registry.example/web:1'), db('registry.example/db:broken', 3)], 'registry.example/web:1'), target(), { log, pollMs: 100 }).then(() => undefined, (error: unknown) => error);
    assert.ok(failure instanceof TaskError && failure.key === 'AksPrivateDeployFailed', String(failure));
    assert.match(aks.runCommands.records.at(-1)!.logs, /statefulset.apps\/db rolled back/);
    assert.doesNotMatch(aks.runCommands.records.at(-1)!.logs, /deployment.apps\/web rolled back/, 'the unchanged Deployment is left alone');
    const now = sim.get('StatefulSet', 'private-ns', 'db') as { spec: { template: { spec: { containers: { image: string }[] } } } };
    assert.equal(now.spec.template.spec.containers[0].image, 'registry.example/db:1');
  });

  it('a workload name that is not a DNS-1123 name is refused before any command is sent', async () => {
    const before = aks.runCommands.records.length;
    const failure = await deployPrivate(request([deployment('api; rm -rf /', 'registry.example/api:1')], 'registry.example/api:1'), target(), { log, pollMs: 100 }).then(() => undefined, (error: unknown) => error);
    assert.ok(failure instanceof TaskError);
    assert.equal(failure.key, 'DeployPrivateBadName');
    assert.equal(aks.runCommands.records.length, before);
  });

  it('manifests the normal path refuses are refused with the same errors before any command is sent: an OnDelete StatefulSet, a Deployment given twice, no workload', async () => {
    const onDelete = {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'manual' },
      spec: { updateStrategy: { type: 'OnDelete' }, serviceName: 'manual', selector: { matchLabels: { app: 'manual' } }, template: { metadata: { labels: { app: 'manual' } }, spec: { containers: [{ name: 'db', image: 'registry.example/db:1' }] } } },
    } as KubeObject;
    const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'only' }, data: {} } as KubeObject;
    const cases: readonly { documents: KubeObject[]; key: string; message: RegExp }[] = [
      { documents: [deployment('web', 'registry.example/web:1'), onDelete], key: 'DeployStatefulSetOnDelete', message: /StatefulSet 'manual' uses the OnDelete update strategy/ },
      // One names the namespace, the other leaves it to the request: the same object in the cluster.
      { documents: [deployment('twice', 'registry.example/web:1'), { ...deployment('twice', 'registry.example/web:1'), metadata: { name: 'twice', namespace: 'private-ns' } }], key: 'DeployDeploymentTwice', message: /workload 'twice' is given twice in the same namespace/ },
      { documents: [config], key: 'DeployNoDeployment', message: /they hold ConfigMap 'only'/ },
    ];
    for (const { documents, key, message } of cases) {
      const before = { commands: aks.runCommands.records.length, posted: aks.requests.filter((r) => r.method === 'POST' && /\/runCommand$/.test(r.path)).length };
      const failure = await deployPrivate(request(documents, 'registry.example/web:1'), target(), { log, pollMs: 100 }).then(() => undefined, (error: unknown) => error);
      assert.ok(failure instanceof TaskError, String(failure));
      assert.equal(failure.key, key);
      assert.match(failure.message, message);
      assert.equal(aks.runCommands.records.length, before.commands, `${key}: no command ran`);
      assert.equal(aks.requests.filter((r) => r.method === 'POST' && /\/runCommand$/.test(r.path)).length, before.posted, `${key}: no run command was posted`);
    }
    assert.equal(sim.get('StatefulSet', 'private-ns', 'manual'), undefined, 'nothing half-written');
    assert.equal(sim.get('Deployment', 'private-ns', 'twice'), undefined, 'nothing half-written');
    assert.equal(sim.get('ConfigMap', 'private-ns', 'only'), undefined, 'nothing half-written');
  });

  it('settings that need the API server are refused, naming privateCluster, before any command is sent', async () => {
    const before = aks.runCommands.records.length;
    const asked = { ...request([deployment('api', 'registry.example/api:1')], 'registry.example/api:1'), prune: true, smokeTest: { path: '/healthz', attempts: 1, intervalMs: 10 }, modelCheck: { digest: `sha256:${'a'.repeat(64)}`, path: '/version', field: 'model_digest' } };
    const failure = await deployPrivate(asked, target(), { log, pollMs: 100, canary: true }).then(() => undefined, (error: unknown) => error);
    assert.ok(failure instanceof SettingError, String(failure));
    assert.equal(failure.setting, 'privateCluster');
    assert.equal(failure.key, 'DeployPrivateUnsupported');
    assert.equal(failure.args[1], 'the canary strategy (it steers traffic step by step from the agent), the smoke test (it is sent from the agent, which may not reach the app), prune (it lists and deletes earlier objects through the API server)', 'the model check is no longer refused');
    assert.equal(aks.runCommands.records.length, before);
  });

  it('createNamespace: the namespace is applied with the manifests', async () => {
    const asked = { ...request([deployment('worker', 'registry.example/worker:1')], 'registry.example/worker:1'), namespace: 'made-here', createNamespace: true };
    const result = await deployPrivate(asked, target(), { log, pollMs: 100 });
    assert.equal(result.workloads[0].images.length, 1, result.logs);
    assert.ok(sim.get('Namespace', '', 'made-here'), 'the namespace exists');
    assert.ok(sim.get('Deployment', 'made-here', 'worker'), 'the Deployment is in it');
  });

  it('the ARM connection resolves into the run command target and a token for the AKS server application, sent as clusterToken and registered as a secret first', async () => {
    const secrets: string[] = [];
    const data = { subscriptionId, environment: 'AzureCloud' };
    const endpoint = fakeEndpoint({ id: 'arm-private', url: aks.url, scheme: 'WorkloadIdentityFederation', auth: { tenantid: tenantId, serviceprincipalid: clientId }, data });
    const connection = readAzureRmConnection(endpoint, 'clusterConnection', 'Private AKS');
    const access = { kind: 'aks' as const, connection, devOps: { serviceConnectionId: 'arm-private' } as never, resourceGroup: 'rg-private', clusterName: 'aks-private', useClusterAdmin: false, privateCluster: true };
    const resolved = await resolveRunCommandTarget(access, { setSecret: (value) => secrets.push(value), log, network, credential, retry: transport.retry });
    assert.ok(resolved.clusterToken && secrets.includes(resolved.clusterToken), 'the cluster token is registered');
    const result = await deployPrivate(request([deployment('api', 'registry.example/api:2')], 'registry.example/api:2'), resolved.target, { log, pollMs: 100, clusterToken: resolved.clusterToken });
    assert.equal(result.workloads[0].images.length, 1, result.logs);
    assert.equal(aks.runCommands.records.at(-1)!.clusterToken, resolved.clusterToken);
    assert.equal(entra.verifyAccessToken(resolved.clusterToken!)?.aud, aksServerAppId);
    assert.equal(imageOf('api'), 'registry.example/api:2');
  });

  it('a cluster ARM does not know fails with ARM\'s words, naming the cluster', async () => {
    const failure = await runAksCommand({ ...target(), clusterName: 'no-such' }, { command: 'true' }, { log, pollMs: 100 }).then(() => undefined, (error: unknown) => error);
    assert.ok(failure instanceof TaskError);
    assert.equal(failure.key, 'AksRunCommandFailed');
    assert.match(String(failure.args[1]), /HTTP 40\d/);
  });
});
