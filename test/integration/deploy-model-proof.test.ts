/**
 * Deploy proves the model it serves, against the cluster simulator's scripted pods (HTTPS, bearer
 * token): the identity check asks every new pod GET /version through the API server's pod proxy,
 * golden requests go to one new pod and then through the load balancer. A wrong digest, a missing
 * one, a wrong prediction or a slow model fails the rollout and rolls it back, as a failed rollout.
 */
import * as assert from 'node:assert/strict';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import { type DeployRequest, deployApp, type GeneratedApp, RolloutFailedError } from '../../tasks/common/kube/deploy';
import { parseGoldenRequests } from '../../tasks/common/kube/goldenRequests';
import type { Log } from '../../tasks/common/log';
import { type ClusterSimulator, type PodRequest, startClusterSimulator } from '../support/cluster';
import { recordingLog, rejection } from '../support/capture';
import { testNetwork } from '../support/services';

const TOKEN = `sim-token-${Math.random().toString(36).slice(2)}`;
const GOOD = `sha256:${'a'.repeat(64)}`;
const OLD = `sha256:${'b'.repeat(64)}`;
const SECRET = 'sk-live-never-print-me-7731';

/** The scripted app: what an image "serves", told by its tag. */
function podApp(request: PodRequest) {
  const { image } = request.container;
  const path = request.path.split('?')[0];
  if (path === '/version') {
    if (image.endsWith(':wrong')) return { status: 200, body: { model_digest: OLD } };
    if (image.endsWith(':nodigest')) return { status: 200, body: { model_version: '3', token: SECRET } };
    if (image.endsWith(':nested')) return { status: 200, body: { model: { digest: GOOD } } };
    if (image.endsWith(':broken')) return { status: 500, body: { error: 'model not loaded' } };
    return undefined;
  }
  if (path === '/score' && request.method === 'POST') {
    if (image.endsWith(':slow')) return { status: 200, body: { predictions: [{ probability: 0.8 }] }, delayMs: 250 };
    const probability = image.endsWith(':constant') ? 0.5 : 0.8 + (request.pod.metadata.name?.length ?? 0) * 1e-9;
    return { status: 200, body: { predictions: [{ label: probability > 0.6 ? 'churn' : 'stay', probability }], token: SECRET } };
  }
  return undefined;
}

const GOLDEN = parseGoldenRequests([
  JSON.stringify({ path: '/score', body: { instances: [{ tenure_months: 2 }] }, expect: { predictions: [{ label: 'churn', probability: 0.8 }] }, tolerance: 0.001 }),
  '',
  JSON.stringify({ path: '/version', expect: { model_digest: GOOD } }),
].join('\n'), 'golden.jsonl');

describe('deploy proves the model it serves (scripted pods)', function () {
  let sim: ClusterSimulator;
  let cluster: Cluster;
  let log: Log & { lines: string[] };

  const app = (name: string): GeneratedApp => ({
    appName: name, replicas: 2, containerPort: 8080, servicePort: 8080, serviceType: 'LoadBalancer', readinessPath: '/healthz',
    env: {}, annotations: { modelVersion: '3', modelDigest: GOOD },
  });
  const deploy = (namespace: string, name: string, image: string, more: Partial<DeployRequest> = {}) => deployApp({
    namespace, createNamespace: true, image, workload: { kind: 'generated', app: app(name) },
    rolloutTimeoutMs: 20_000, rollbackOnFailure: true, loadBalancerTimeoutMs: 10_000,
    modelCheck: { digest: GOOD, path: '/version', field: 'model_digest' }, ...more,
  }, { cluster, log, network: testNetwork, retry: { attempts: 2, baseDelayMs: 20 } });
  const proxied = (namespace: string) => sim.requests.filter((r) => r.path.startsWith(`/api/v1/namespaces/${namespace}/pods/`) && r.path.includes('/proxy/'));
  const imageOf = (namespace: string, name: string) => (sim.get('Deployment', namespace, name) as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0].image;

  before(async () => {
    sim = await startClusterSimulator({ auth: { token: TOKEN }, podReadyDelayMs: 60, loadBalancerDelayMs: 100, podApp });
    cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
  });
  beforeEach(() => {
    log = recordingLog();
  });
  after(async () => {
    cluster?.close();
    await sim?.stop();
    assert.deepEqual(sim.errors, []);
  });

  it('asks every new pod for its model through the pod proxy and reports modelVerified', async () => {
    const result = await deploy('proof-ok', 'churn', 'registry.example/churn:good');
    assert.equal(result.modelVerified, true);
    const asked = proxied('proof-ok');
    assert.equal(asked.length, 2, JSON.stringify(asked));
    for (const request of asked) assert.match(request.path, /^\/api\/v1\/namespaces\/proof-ok\/pods\/churn-[a-z0-9]+-[a-z0-9]+:8080\/proxy\/version$/);
    assert.equal(log.lines.filter((line) => line.startsWith('Model check: pod')).length, 2, log.lines.join('\n'));
  });

  it('checks the running pods again when the same digest is already deployed (the no-op path)', async () => {
    await deploy('proof-noop', 'churn', 'registry.example/churn:good');
    const before = proxied('proof-noop').length;
    const again = await deploy('proof-noop', 'churn', 'registry.example/churn:good');
    assert.equal(again.unchanged, true);
    assert.equal(again.modelVerified, true);
    assert.equal(proxied('proof-noop').length, before + 2);
  });

  it('fails a pod that serves another digest and rolls back to the model that ran before', async () => {
    await deploy('proof-wrong', 'churn', 'registry.example/churn:good');
    const error = await rejection(deploy('proof-wrong', 'churn', 'registry.example/churn:wrong'));
    assert.ok(error instanceof RolloutFailedError, String(error));
    assert.equal(error.reason, 'ModelCheckFailed');
    assert.equal(error.rolledBack, true);
    assert.match(error.message, /pod 'churn-[a-z0-9-]+' serves model digest sha256:b{64}, but sha256:a{64} was deployed \(GET \/version, field 'model_digest'\)/);
    assert.equal(imageOf('proof-wrong', 'churn'), 'registry.example/churn:good');
  });

  it('fails a pod that reports no digest, masking what its answer carried, and one that answers 500', async () => {
    await deploy('proof-none', 'churn', 'registry.example/churn:good');
    const missing = await rejection(deploy('proof-none', 'churn', 'registry.example/churn:nodigest'));
    assert.ok(missing instanceof RolloutFailedError);
    assert.match(missing.message, /reports no model digest at field 'model_digest' of GET \/version/);
    assert.ok(!missing.message.includes(SECRET), missing.message);
    const broken = await rejection(deploy('proof-none', 'churn', 'registry.example/churn:broken'));
    assert.match(broken.message, /answered GET \/version with HTTP 500 .*model not loaded/);
    assert.equal(imageOf('proof-none', 'churn'), 'registry.example/churn:good');
  });

  it('reads a dotted field from nested objects, and skips the check when none is asked for', async () => {
    const nested = await deploy('proof-nested', 'churn', 'registry.example/churn:nested', { modelCheck: { digest: GOOD, path: '/version', field: 'model.digest' } });
    assert.equal(nested.modelVerified, true);
    const unchecked = await deploy('proof-off', 'churn', 'registry.example/churn:wrong', { modelCheck: undefined });
    assert.equal(unchecked.modelVerified, false);
    assert.equal(proxied('proof-off').length, 0);
  });

  it('sends the golden requests to one pod, then through the load balancer', async () => {
    const result = await deploy('golden-ok', 'churn', 'registry.example/churn:good', { goldenRequests: { requests: GOLDEN, source: 'golden.jsonl' } });
    assert.equal(result.modelVerified, true);
    const scored = proxied('golden-ok').filter((r) => r.path.endsWith('/proxy/score'));
    assert.equal(scored.length, 1);
    assert.equal(log.lines.filter((line) => line.startsWith('Golden requests: all 2 answered as expected')).length, 2, log.lines.join('\n'));
    assert.ok(log.lines.some((line) => line.includes(`through ${result.service?.url}`)), log.lines.join('\n'));
  });

  it('fails a constant predictor, shows the request, expected and actual answers, masked, and rolls back', async () => {
    const golden = { requests: GOLDEN, source: 'golden.jsonl' };
    await deploy('golden-bad', 'churn', 'registry.example/churn:good', { goldenRequests: golden });
    const error = await rejection(deploy('golden-bad', 'churn', 'registry.example/churn:constant', { goldenRequests: golden }));
    assert.ok(error instanceof RolloutFailedError, String(error));
    assert.equal(error.reason, 'GoldenRequestsFailed');
    assert.equal(error.rolledBack, true);
    assert.match(error.message, /golden request POST \/score \{"instances":\[\{"tenure_months":2\}\]\} \(line 1\) through pod 'churn-[^']+' answered wrongly at \$\.predictions\[0\]\.label: expected "churn", got "stay"/);
    assert.ok(!error.message.includes(SECRET), error.message);
    assert.equal(imageOf('golden-bad', 'churn'), 'registry.example/churn:good');
  });

  it('fails a model whose p95 latency is over maxLatencyMs', async () => {
    await deploy('golden-slow', 'churn', 'registry.example/churn:good');
    const requests = parseGoldenRequests('[{"path": "/score", "body": {}, "expect": {"predictions": [{"probability": 0.8}]}}]', 'slow.json');
    const error = await rejection(deploy('golden-slow', 'churn', 'registry.example/churn:slow', { goldenRequests: { requests, source: 'slow.json', maxLatencyMs: 100 } }));
    assert.ok(error instanceof RolloutFailedError, String(error));
    assert.match(error.message, /the 1 golden requests through pod '[^']+' took \d{3,} ms at p95, more than the limit of 100 ms/);
  });
});
