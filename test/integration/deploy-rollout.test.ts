/**
 * Rollout watching, failure diagnostics and rollback against the cluster simulator over HTTPS with a
 * bearer token (as AKS): completion seen through the watch (one list, no polling), the
 * progress deadline, our own timeout, quiet watches, cut connections, 410 Gone, deletion, 401, and
 * `kubectl rollout undo` semantics (the old ReplicaSet re-stamped with a new revision).
 */
import { strict as assert } from 'node:assert';
import { TaskError } from '../../tasks/common/errors';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import { describeRolloutFailure } from '../../tasks/common/kube/diagnostics';
import { rollbackDeployment } from '../../tasks/common/kube/rollback';
import { type DeploymentLike, type RolloutStatus, rolloutStatus } from '../../tasks/common/kube/rolloutStatus';
import { type RolloutOutcome, watchRollout } from '../../tasks/common/kube/rolloutWatch';
import { type ClusterSimulator, type ImageBehaviour, startClusterSimulator } from '../support/cluster';
import { testNetwork } from '../support/services';
import { startTcpProxy } from '../support/tcpProxy';
import { recordingLog } from '../support/capture';

const TOKEN = 'simulated-aks-token';
const SECRET = 'sk-live-do-not-print-4242';
const MODEL_VERSION = 'ai.model-delivery/model-version';
const REGISTRY = 'example.azurecr.io/app';

type Obj = { metadata: { name: string; uid?: string; annotations?: Record<string, string>; ownerReferences?: { uid: string }[] }; spec?: any; status?: any };

function behaviour(image: string): ImageBehaviour {
  if (image.endsWith(':missing')) return 'pullError';
  return image.endsWith(':crash') ? 'crash' : 'run';
}

function manifest(name: string, image: string, options: { replicas?: number; deadline?: number; model?: string } = {}) {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: 'default', annotations: { [MODEL_VERSION]: options.model ?? '1' } },
    spec: {
      replicas: options.replicas ?? 2, progressDeadlineSeconds: options.deadline ?? 600,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: { [MODEL_VERSION]: options.model ?? '1' } },
        spec: { containers: [{ name: 'app', image, env: [{ name: 'API_KEY', value: SECRET }] }] },
      },
    },
  };
}

async function apply(cluster: Cluster, name: string, image: string, options?: Parameters<typeof manifest>[2]): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  await cluster.objects.patch(manifest(name, image, options), undefined, undefined, 'rollout-test', true, k8s.PatchStrategy.ServerSideApply);
}

async function eventually<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejection(promise: Promise<unknown>): Promise<TaskError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${(error as Error)?.stack ?? error}`);
    return error;
  }
  assert.fail('expected a rejection');
}

const watchesOf = (sim: ClusterSimulator, name: string) => sim.requests.filter((r) => r.path === '/apis/apps/v1/namespaces/default/deployments'
  && /[?&]watch=true/.test(r.query) && r.query.includes(`metadata.name%3D${name}`));
const listsOf = (sim: ClusterSimulator, name: string) => sim.requests.filter((r) => r.path === '/apis/apps/v1/namespaces/default/deployments'
  && !/[?&]watch=true/.test(r.query) && r.query.includes(`metadata.name%3D${name}`));

function complete(outcome: RolloutOutcome): Extract<RolloutOutcome, { kind: 'complete' }> {
  assert.equal(outcome.kind, 'complete', outcome.kind === 'failed' ? outcome.message : '');
  return outcome as Extract<RolloutOutcome, { kind: 'complete' }>;
}

describe('rollout watch, diagnostics and rollback (cluster simulator)', function () {
  this.timeout(60_000);
  let sim: ClusterSimulator;
  let cluster: Cluster;
  const deployment = (name: string) => sim.get('Deployment', 'default', name) as Obj | undefined;
  const pods = (name: string) => (sim.list('Pod', 'default') as Obj[]).filter((p) => p.metadata.name.startsWith(`${name}-`));

  before(async () => {
    sim = await startClusterSimulator({ auth: { token: TOKEN }, podReadyDelayMs: 150, imageBehaviour: behaviour });
    cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
  });
  after(() => sim?.stop());
  afterEach(() => assert.deepEqual(sim.errors, [], 'the simulator recorded internal errors'));

  it('sees completion through the watch: one list, then the watch events decide (no polling)', async () => {
    const log = recordingLog();
    const statuses: RolloutStatus[] = [];
    await apply(cluster, 'fast', `${REGISTRY}:v1`);
    const outcome = complete(await watchRollout(cluster, { namespace: 'default', name: 'fast', timeoutMs: 20_000, log, onStatus: (s) => statuses.push(s) }));
    assert.equal(outcome.revision, 1);
    assert.equal(outcome.deployment.spec?.template?.spec?.containers?.[0]?.image, `${REGISTRY}:v1`);
    assert.equal(deployment('fast')?.status?.availableReplicas, 2);
    assert.ok(statuses.length >= 2 && statuses.at(-1)?.done, 'progress, then done');
    assert.equal(new Set(statuses.map((s) => s.message)).size, statuses.length, 'only changes are reported');
    assert.ok(log.entries.some((l) => l.key === 'RolloutStatus' && l.args[0] === 'Deployment' && /rollout to finish/.test(String(l.args[2]))), 'a progress line');
    assert.deepEqual(log.entries.at(-1)?.key, 'RolloutComplete');
    assert.equal(listsOf(sim, 'fast').length, 1, 'one list, then the watch decided');
  });

  it('reports ProgressDeadlineExceeded, describes the pull failure, and rolls back to the previous image', async () => {
    const log = recordingLog();
    // Condition times have one-second resolution (as in Kubernetes): a deadline of N s passes after N-1 to N s.
    await apply(cluster, 'web', `${REGISTRY}:v1`, { deadline: 2, model: '1' });
    assert.equal(complete(await watchRollout(cluster, { namespace: 'default', name: 'web', timeoutMs: 20_000, log })).revision, 1);

    await apply(cluster, 'web', `${REGISTRY}:missing`, { deadline: 2, model: '2' });
    const failed = await watchRollout(cluster, { namespace: 'default', name: 'web', timeoutMs: 20_000, log });
    assert.equal(failed.kind, 'failed');
    assert.equal(failed.kind === 'failed' && failed.reason, 'ProgressDeadlineExceeded');
    assert.equal(failed.revision, 2);
    assert.match(failed.kind === 'failed' ? failed.message : '', /revision 2 made no progress for 2 s.*has timed out progressing$/);
    // The reason is the cluster's own condition, so the watch saw it rather than running out its 20 s; a lower
    // bound only (load can only make it longer) shows it did not give up before the deadline could pass.
    assert.ok(failed.elapsedMs >= 900, `failed after ${failed.elapsedMs} ms`);

    const diagnostics = String(await describeRolloutFailure(cluster, 'default', failed.deployment, log));
    assert.match(diagnostics, /ImagePullBackOff/);
    assert.match(diagnostics, /example\.azurecr\.io\/app:missing/);
    assert.match(diagnostics, /ReplicaSet web-\w+ \(revision 2\): 0 of 1 pods ready/, 'maxSurge 25% of 2: one new pod');
    assert.match(diagnostics, /Progressing is False \(ProgressDeadlineExceeded\)/);
    assert.doesNotMatch(diagnostics, /:v1/, 'only the newest ReplicaSet is described');
    assert.ok(!diagnostics.includes(SECRET), 'no env values');
    assert.ok(diagnostics.split('\n').length <= 20, diagnostics);

    const result = await rollbackDeployment(cluster, 'default', 'web', log);
    assert.deepEqual(result, { revision: 3, images: [`${REGISTRY}:v1`] });
    const undo = sim.requests.filter((r) => r.method === 'PATCH' && r.path === '/apis/apps/v1/namespaces/default/deployments/web').pop();
    assert.equal(undo?.contentType, 'application/json-patch+json');
    const d = deployment('web') as Obj;
    assert.equal(d.spec.template.spec.containers[0].image, `${REGISTRY}:v1`);
    assert.equal(d.metadata.annotations?.[MODEL_VERSION], '1', 'the model annotation follows the image back');
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.ok(rolloutStatus(d as DeploymentLike).done);
    const replicaSets = (sim.list('ReplicaSet', 'default') as Obj[]).filter((rs) => rs.metadata.ownerReferences?.[0]?.uid === d.metadata.uid);
    assert.equal(replicaSets.length, 2, 'the old ReplicaSet was reused, not a third one created');
    const v1 = replicaSets.find((rs) => rs.spec.template.spec.containers[0].image.endsWith(':v1'));
    assert.equal(v1?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.equal(v1?.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
    const running = await eventually('only v1 pods', () => {
      const all = pods('web');
      return all.length === 2 && all.every((p) => p.spec.containers[0].image.endsWith(':v1') && p.status?.containerStatuses?.[0]?.ready) && all;
    });
    assert.equal(running.length, 2);
    assert.ok(log.entries.some((l) => l.key === 'RolloutRolledBack' && l.args[1] === 1 && l.args[2] === 3));
  });

  it('gives up with a Timeout outcome after timeoutMs when the deadline is far away', async () => {
    await apply(cluster, 'stuck', `${REGISTRY}:missing`, { deadline: 600 });
    const outcome = await watchRollout(cluster, { namespace: 'default', name: 'stuck', timeoutMs: 800, log: recordingLog() });
    assert.equal(outcome.kind, 'failed');
    assert.equal(outcome.kind === 'failed' && outcome.reason, 'Timeout');
    assert.ok(outcome.elapsedMs >= 790, `gave up after ${outcome.elapsedMs} ms, before its time limit`);
    assert.match(outcome.kind === 'failed' ? outcome.message : '', /revision 1 did not finish rolling out within 0\.8 s \(last status: Waiting for deployment "stuck" rollout to finish: 0 of 2 updated replicas are available\.\.\.\)/);
  });

  it('returns undefined from rollback when there is no previous revision, changing nothing', async () => {
    const log = recordingLog();
    await apply(cluster, 'solo', `${REGISTRY}:v1`);
    complete(await watchRollout(cluster, { namespace: 'default', name: 'solo', timeoutMs: 20_000, log }));
    const patchesBefore = sim.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/solo')).length;
    assert.equal(await rollbackDeployment(cluster, 'default', 'solo', log), undefined);
    assert.equal(sim.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/solo')).length, patchesBefore);
    assert.ok(log.entries.some((l) => l.key === 'RolloutNoPreviousRevision'));
    assert.equal(deployment('solo')?.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
  });

  it('describes a crashing image with CrashLoopBackOff, exit code and restarts', async () => {
    await apply(cluster, 'crashy', `${REGISTRY}:crash`, { deadline: 1, replicas: 1 });
    const outcome = await watchRollout(cluster, { namespace: 'default', name: 'crashy', timeoutMs: 20_000, log: recordingLog() });
    assert.equal(outcome.kind === 'failed' && outcome.reason, 'ProgressDeadlineExceeded');
    // Between crashes the container runs briefly; describe it while the kubelet is backing off.
    await eventually('CrashLoopBackOff', () => pods('crashy').some((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff'));
    const diagnostics = String(await describeRolloutFailure(cluster, 'default', outcome.deployment, recordingLog()));
    assert.match(diagnostics, /container app \(image example\.azurecr\.io\/app:crash\): waiting, CrashLoopBackOff: back-off \d+s restarting failed container=app pod=crashy-\S+; [1-9]\d* restarts/);
    assert.match(diagnostics, /Warning BackOff on pod\/crashy-\S+ \(\d+x\): Back-off restarting failed container app/);
    assert.ok(!diagnostics.includes(SECRET));
  });

  it('fails clearly when the deployment does not exist or is deleted mid-watch', async () => {
    const missing = await rejection(watchRollout(cluster, { namespace: 'default', name: 'nowhere', timeoutMs: 5000, log: recordingLog() }));
    assert.equal(missing.key, 'RolloutDeploymentNotFound');

    await apply(cluster, 'doomed', `${REGISTRY}:missing`);
    const watching = watchRollout(cluster, { namespace: 'default', name: 'doomed', timeoutMs: 20_000, log: recordingLog() });
    await eventually('the watch', () => watchesOf(sim, 'doomed').length > 0);
    await cluster.apps.deleteNamespacedDeployment({ name: 'doomed', namespace: 'default' });
    const deleted = await rejection(watching);
    assert.equal(deleted.key, 'RolloutDeploymentDeleted');
    assert.match(deleted.message, /Deployment 'doomed' in namespace 'default' was deleted/);
  });

  it('does not retry a 401: the credentials must change', async () => {
    const wrong = connectCluster(sim.kubeconfig().replace(TOKEN, 'expired-token'), { network: testNetwork });
    const before = listsOf(sim, 'fast').length;
    const refused = await rejection(watchRollout(wrong, { namespace: 'default', name: 'fast', timeoutMs: 20_000, log: recordingLog() }));
    assert.equal(refused.key, 'KubeApiUnauthorized');
    assert.match(refused.message, /did not accept the credentials of the service connection \(HTTP 401\) when asked to list deployment 'fast'/);
    assert.ok(!refused.message.includes('expired-token'));
    assert.equal(listsOf(sim, 'fast').length - before, 1, 'one attempt');
  });
});

describe('rollout watch through quiet streams, cut connections and 410 Gone', function () {
  this.timeout(60_000);
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function slowSimulator(options: Parameters<typeof startClusterSimulator>[0]): Promise<ClusterSimulator> {
    const sim = await startClusterSimulator({ auth: { token: TOKEN }, imageBehaviour: behaviour, ...options });
    stops.push(() => sim.stop());
    return sim;
  }

  it('re-watches from the last resourceVersion when the stream goes quiet, and still completes', async () => {
    const sim = await slowSimulator({ podReadyDelayMs: 1200, bookmarkIntervalMs: 60_000 });
    const cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
    const log = recordingLog();
    await apply(cluster, 'idle', `${REGISTRY}:v1`, { replicas: 1 });
    const outcome = complete(await watchRollout(cluster, { namespace: 'default', name: 'idle', timeoutMs: 20_000, log, idleRewatchMs: 150 }));
    assert.equal(outcome.revision, 1);
    const watches = watchesOf(sim, 'idle');
    assert.ok(watches.length >= 4, `${watches.length} watches`);
    assert.ok(watches.every((w) => /resourceVersion=\d+/.test(w.query) && /allowWatchBookmarks=true/.test(w.query)), 'each resumes from a resourceVersion');
    assert.equal(listsOf(sim, 'idle').length, 1, 'resumed, never re-listed');
    assert.ok(log.debugs.some((d) => /no events for 150 ms/.test(d)));
  });

  it('re-watches after the API connection is cut mid-watch and completes', async () => {
    const sim = await slowSimulator({ podReadyDelayMs: 1000 });
    const proxy = await startTcpProxy({ targetPort: Number(new URL(sim.url).port) });
    stops.push(() => proxy.close());
    const cluster = connectCluster(sim.kubeconfig().replace(sim.url, `https://127.0.0.1:${proxy.port}`), { network: testNetwork });
    await apply(cluster, 'cut', `${REGISTRY}:v1`, { replicas: 1 });
    const log = recordingLog();
    const watching = watchRollout(cluster, { namespace: 'default', name: 'cut', timeoutMs: 20_000, log });
    await eventually('the watch', () => watchesOf(sim, 'cut').length > 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(proxy.activeConnections > 0);
    proxy.destroyConnections();
    const outcome = complete(await watching);
    assert.equal(outcome.revision, 1);
    assert.ok(watchesOf(sim, 'cut').length >= 2, 'watched again after the cut');
    assert.ok(proxy.connections >= 2, 'over a new connection');
    assert.ok(log.entries.some((l) => l.key === 'RolloutRewatching') || log.debugs.some((d) => /ended \(closed/.test(d)), 'the loss was noticed');
  });

  it('re-lists after 410 Gone when the history has moved past its resourceVersion', async () => {
    const sim = await slowSimulator({ podReadyDelayMs: 800, watchCacheSize: 3, bookmarkIntervalMs: 60_000 });
    const cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
    const churn = setInterval(() => {
      void cluster.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'churn-' }, data: { x: '1' } } }).catch(() => undefined);
    }, 10);
    try {
      await apply(cluster, 'gone', `${REGISTRY}:v1`, { replicas: 1 });
      const log = recordingLog();
      const outcome = complete(await watchRollout(cluster, { namespace: 'default', name: 'gone', timeoutMs: 20_000, log, idleRewatchMs: 100 }));
      assert.equal(outcome.revision, 1);
      assert.ok(log.debugs.some((d) => /expired \(410\); listing again/.test(d)), log.debugs.join('\n'));
      assert.ok(listsOf(sim, 'gone').length >= 2, 're-listed');
    } finally {
      clearInterval(churn);
    }
  });
});
