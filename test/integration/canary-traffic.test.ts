/**
 * The canary's comparison traffic against the cluster simulator's scripted pods: golden requests
 * replayed to a canary and a baseline Deployment through the pod proxy, judged per track. A slower
 * model fails on latency, an erroring one on error rate, an equal one passes, and every sample is
 * attributable: the simulator saw each request at a pod of the track it was counted for.
 */
import * as assert from 'node:assert/strict';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import { deployApp, type GeneratedApp } from '../../tasks/common/kube/deploy';
import { parseGoldenRequests } from '../../tasks/common/kube/goldenRequests';
import { servingPods } from '../../tasks/common/kube/podProxy';
import type { DeploymentLike } from '../../tasks/common/kube/rolloutStatus';
import { type PodSnapshot, judgeStep, podSignals } from '../../tasks/common/kube/strategy/analysis';
import { stepSize } from '../../tasks/common/kube/strategy/steps';
import { replayTraffic } from '../../tasks/common/kube/strategy/traffic';
import { type ClusterSimulator, type PodRequest, startClusterSimulator } from '../support/cluster';
import { recordingLog } from '../support/capture';
import { testNetwork } from '../support/services';

const TOKEN = `sim-token-${Math.random().toString(36).slice(2)}`;
let flakyCalls = 0;

/** The scripted models, told by the image tag: good, slow (+40 ms), flaky (every third answer a 500). */
function podApp(request: PodRequest) {
  const { image } = request.container;
  if (request.path !== '/score' || request.method !== 'POST') return undefined;
  const answer = { status: 200, body: { predictions: [{ label: 'churn', probability: 0.8 }] } };
  if (image.endsWith(':slow')) return { ...answer, delayMs: 40 };
  if (image.endsWith(':flaky') && ++flakyCalls % 3 === 0) return { status: 500, body: { error: 'model failed' } };
  return answer;
}

const GOLDEN = parseGoldenRequests(
  JSON.stringify({ path: '/score', body: { instances: [{ tenure_months: 2 }] }, expect: { predictions: [{ label: 'churn', probability: 0.8 }] }, tolerance: 0.001 }),
  'golden.jsonl',
);

describe('canary comparison traffic (scripted pods)', function () {
  let sim: ClusterSimulator;
  let cluster: Cluster;
  const namespace = 'canary-traffic';
  const app = (name: string): GeneratedApp => ({
    appName: name, replicas: 1, containerPort: 8080, servicePort: 8080, serviceType: 'ClusterIP', readinessPath: '/healthz', env: {}, annotations: {},
  });
  const deployTrack = async (name: string, image: string) => {
    await deployApp({
      namespace, createNamespace: true, image, workload: { kind: 'generated', app: app(name) },
      rolloutTimeoutMs: 20_000, rollbackOnFailure: false, loadBalancerTimeoutMs: 5_000,
    }, { cluster, log: recordingLog(), network: testNetwork, retry: { attempts: 2, baseDelayMs: 20 } });
    const deployment = sim.get('Deployment', namespace, name) as DeploymentLike;
    return servingPods(cluster, namespace, deployment, image, { log: recordingLog() });
  };
  const podsOf = (name: string) => (sim.list('Pod', namespace) as PodSnapshot[]).filter((pod) => pod.metadata?.name?.startsWith(`${name}-`));

  before(async () => {
    sim = await startClusterSimulator({ auth: { token: TOKEN }, podReadyDelayMs: 40, loadBalancerDelayMs: 50, podApp });
    cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
  });
  after(async () => {
    cluster?.close();
    await sim?.stop();
    assert.deepEqual(sim.errors, []);
  });

  it('fails a slower canary on latency and an erroring one on error rate, passes an equal one', async () => {
    const baseline = await deployTrack('churn-baseline', 'registry.example/churn:good');
    const tracks = {
      slow: await deployTrack('churn-slow', 'registry.example/churn:slow'),
      flaky: await deployTrack('churn-flaky', 'registry.example/churn:flaky'),
      equal: await deployTrack('churn-equal', 'registry.example/churn:good2'),
    };
    const step = { percent: 10, seconds: 2 };
    const settings = { requests: GOLDEN, requestsPerSecond: 20, timeoutMs: 5_000 };
    const verdicts: Record<string, ReturnType<typeof judgeStep>> = {};
    for (const [name, canary] of Object.entries(tracks)) {
      const before = sim.requests.length;
      const recorder = await replayTraffic(cluster, { canary, baseline }, step, settings);
      const sent = sim.requests.slice(before).filter((request) => request.path.includes('/proxy/score'));
      // Attributable: half the requests went to the canary's pod, half to the baseline's, by name.
      assert.equal(sent.filter((request) => request.path.includes(`/pods/${canary[0]!.name}:8080/`)).length, 40);
      assert.equal(sent.filter((request) => request.path.includes(`/pods/${baseline[0]!.name}:8080/`)).length, 40);
      const pods = podSignals([podsOf(`churn-${name}`)], sim.list('Event', namespace) as never[]);
      verdicts[name] = judgeStep(0, step, stepSize(step, 1), pods, { check: 'model', verdict: 'pass' }, recorder.samples('canary'), recorder.samples('baseline'));
    }
    const check = (name: string, kind: string) => verdicts[name]!.checks.find((c) => c.check === kind) as { verdict: string; pValue: number; canaryMedianMs?: number; baselineMedianMs?: number; canaryRate?: number };
    assert.equal(verdicts.slow!.verdict, 'fail');
    assert.equal(check('slow', 'latency').verdict, 'fail');
    assert.ok(check('slow', 'latency').canaryMedianMs! >= check('slow', 'latency').baselineMedianMs! + 30, JSON.stringify(check('slow', 'latency')));
    assert.equal(check('slow', 'errorRate').verdict, 'pass');
    assert.equal(verdicts.flaky!.verdict, 'fail');
    assert.equal(check('flaky', 'errorRate').verdict, 'fail');
    assert.ok(Math.abs(check('flaky', 'errorRate').canaryRate! - 1 / 3) < 0.05);
    assert.equal(check('equal', 'errorRate').verdict, 'pass');
    assert.equal(check('equal', 'latency').verdict, 'pass', JSON.stringify(check('equal', 'latency')));
    assert.equal(verdicts.equal!.verdict, 'pass');
  });
});
