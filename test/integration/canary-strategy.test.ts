/**
 * The canary strategy against the cluster simulator's scripted pods: a slower model's canary is
 * aborted with the stable Deployment untouched (same generation, same image), a wrong model's
 * canary is aborted by the model check, an equal model's canary (after a dark step) is promoted by
 * the ordinary rolling deploy; canary and baseline are gone afterwards either way.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import { type DeployRequest, deployApp, type GeneratedApp } from '../../tasks/common/kube/deploy';
import { NAME_LABEL } from '../../tasks/common/kube/generate';
import { parseGoldenRequests } from '../../tasks/common/kube/goldenRequests';
import { TRACK_LABEL, runCanary, stableModel, trackDeployment } from '../../tasks/common/kube/strategy/canary';
import { ANNOTATION_KEYS } from '../../tasks/common/kube/types';
import { type ClusterSimulator, type PodRequest, startClusterSimulator } from '../support/cluster';
import { recordingLog } from '../support/capture';
import { testNetwork } from '../support/services';

const TOKEN = `sim-token-${Math.random().toString(36).slice(2)}`;
const GOOD = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'c'.repeat(64)}`;

function podApp(request: PodRequest) {
  const { image } = request.container;
  const path = request.path.split('?')[0];
  if (path === '/version') return { status: 200, body: { model_digest: image.endsWith(':wrong') ? OTHER : GOOD } };
  if (path !== '/score' || request.method !== 'POST') return undefined;
  const answer = { status: 200, body: { predictions: [{ label: 'churn', probability: 0.8 }] } };
  return image.endsWith(':slow') ? { ...answer, delayMs: 40 } : answer;
}

const GOLDEN = parseGoldenRequests(
  JSON.stringify({ path: '/score', body: { instances: [{ tenure_months: 2 }] }, expect: { predictions: [{ label: 'churn', probability: 0.8 }] }, tolerance: 0.001 }),
  'golden.jsonl',
);

interface DeploymentView { metadata: { generation: number }; spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } } } }

describe('canary strategy (scripted pods)', function () {
  let sim: ClusterSimulator;
  let cluster: Cluster;
  const namespace = 'canary';
  const app: GeneratedApp = {
    appName: 'churn', replicas: 2, containerPort: 8080, servicePort: 8080, serviceType: 'ClusterIP', readinessPath: '/healthz', env: {}, annotations: {},
  };
  const request = (image: string): DeployRequest => ({
    namespace, createNamespace: true, image, workload: { kind: 'generated', app },
    rolloutTimeoutMs: 20_000, rollbackOnFailure: true, loadBalancerTimeoutMs: 5_000, goldenRequests: { requests: GOLDEN, source: 'golden.jsonl' },
    modelCheck: { digest: GOOD, path: '/version', field: 'model_digest' },
  });
  const context = () => ({ cluster, log: recordingLog(), network: testNetwork, retry: { attempts: 2, baseDelayMs: 20 } });
  const stable = () => sim.get('Deployment', namespace, 'churn') as DeploymentView;
  const tracksLeft = () => sim.list('Deployment', namespace).map((d) => (d as { metadata: { name: string } }).metadata.name).filter((n) => n !== 'churn');
  const settings = (steps: { percent: number; seconds: number }[]) => ({ steps, requestsPerSecond: 20, onInconclusive: 'abort' as const });

  before(async () => {
    sim = await startClusterSimulator({ auth: { token: TOKEN }, podReadyDelayMs: 40, loadBalancerDelayMs: 50, podApp });
    cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
    await deployApp(request('registry.example/churn:good'), context());
  });
  after(async () => {
    cluster?.close();
    await sim?.stop();
    assert.deepEqual(sim.errors, []);
  });

  it('keeps a dark track out of the Service selector and selects a served one', () => {
    const dark = trackDeployment(app, namespace, 'img', 'canary', 1, false) as unknown as DeploymentView;
    const served = trackDeployment(app, namespace, 'img', 'baseline', 1, true) as unknown as DeploymentView;
    assert.equal(dark.spec.template.metadata.labels[NAME_LABEL], undefined);
    assert.equal(dark.spec.template.metadata.labels[TRACK_LABEL], 'canary');
    assert.equal(served.spec.template.metadata.labels[NAME_LABEL], 'churn');
  });

  it("gives the baseline the stable pods' model annotations, not the canary's", () => {
    const model = stableModel({ spec: { template: { metadata: { annotations: { [ANNOTATION_KEYS.modelDigest]: GOOD, [ANNOTATION_KEYS.modelVersion]: '3', other: 'x' } } } } });
    assert.deepEqual(model, { modelDigest: GOOD, modelVersion: '3' });
    const baseline = trackDeployment({ ...app, annotations: model }, namespace, 'img', 'baseline', 1, true) as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
    assert.equal(baseline.spec.template.metadata.annotations[ANNOTATION_KEYS.modelDigest], GOOD);
  });

  it('aborts a slower model, leaving the stable Deployment as it was', async () => {
    const before = stable();
    const log = recordingLog();
    const result = await runCanary(request('registry.example/churn:slow'), settings([{ percent: 50, seconds: 2 }]), { ...context(), log });
    assert.equal(result.verdict, 'aborted');
    assert.equal(result.deployed, undefined);
    const latency = result.report!.steps[0]!.checks.find((c) => c.check === 'latency') as { verdict: string; canaryMedianMs: number; baselineMedianMs: number };
    assert.equal(latency.verdict, 'fail');
    assert.ok(latency.canaryMedianMs > latency.baselineMedianMs + 30);
    assert.equal(stable().metadata.generation, before.metadata.generation);
    assert.equal(stable().spec.template.spec.containers[0]!.image, 'registry.example/churn:good');
    assert.deepEqual(tracksLeft(), []);
    assert.ok(log.lines.some((line) => /Canary step 1: fail/.test(line)), log.lines.join('\n'));
  });

  it('aborts a canary that serves the wrong model', async () => {
    const before = stable().metadata.generation;
    const result = await runCanary(request('registry.example/churn:wrong'), settings([{ percent: 50, seconds: 1 }]), context());
    assert.equal(result.verdict, 'aborted');
    const model = result.report!.steps[0]!.checks.find((c) => c.check === 'model') as { verdict: string; detail: string };
    assert.equal(model.verdict, 'fail');
    assert.match(model.detail, new RegExp(OTHER.slice(0, 20)));
    assert.equal(stable().metadata.generation, before);
    assert.deepEqual(tracksLeft(), []);
  });

  it('promotes an equal model after a dark step, by the rolling deploy, kubectl showing the tracks at each step', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'canary-kubectl-'));
    const kubeconfig = sim.writeKubeconfig(folder);
    // kubectl as a user would run it while the canary is on, asynchronously: the simulator runs in this process.
    const seen: { name: string; track: string; served: boolean; image: string }[][] = [];
    let running = true;
    const watching = (async () => {
      while (running) {
        const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, 'get', 'pods', '-n', namespace, '-l', TRACK_LABEL, '-o', 'json']);
        const pods = (JSON.parse(stdout) as { items: { metadata: { name: string; labels: Record<string, string> }; spec: { containers: { image: string }[] } }[] }).items;
        seen.push(pods.map((pod) => ({ name: pod.metadata.name, track: pod.metadata.labels[TRACK_LABEL]!, served: pod.metadata.labels[NAME_LABEL] === 'churn', image: pod.spec.containers[0]!.image })));
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    const result = await runCanary(request('registry.example/churn:good2'), settings([{ percent: 0, seconds: 2 }, { percent: 50, seconds: 2 }]), context()).finally(() => {
      running = false;
    });
    await watching;
    const { stdout: left } = await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, 'get', 'deployments', '-n', namespace, '-l', TRACK_LABEL, '-o', 'name']);
    fs.rmSync(folder, { recursive: true, force: true });
    assert.equal(left.trim(), '', 'kubectl shows no track Deployment afterwards');
    const views = seen.map((pods) => pods.map((pod) => `${pod.track}:${pod.served ? 'served' : 'dark'}:${pod.image.split(':').at(-1)}`).sort().join(' '));
    assert.ok(views.includes('baseline:dark:good canary:dark:good2'), views.join('\n'));
    assert.ok(views.includes('baseline:served:good canary:served:good2'), views.join('\n'));
    assert.equal(result.verdict, 'promoted', JSON.stringify(result.report, null, 1).slice(0, 3000));
    assert.deepEqual(result.report!.steps.map((step) => step.verdict), ['pass', 'pass']);
    assert.equal(result.report!.steps[0]!.canaryShare, 0);
    assert.equal(result.deployed?.modelVerified, true);
    assert.equal(stable().spec.template.spec.containers[0]!.image, 'registry.example/churn:good2');
    assert.deepEqual(tracksLeft(), []);
  });
});
