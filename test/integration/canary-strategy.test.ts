/**
 * The canary strategy against the cluster simulator's scripted pods: a slower model's canary is
 * aborted with the stable Deployment untouched (same generation, same image), a wrong model's
 * canary is aborted by the model check, an equal model's canary (after a dark step) is promoted by
 * the ordinary rolling deploy; canary and baseline are gone afterwards either way.
 */
import * as assert from 'node:assert/strict';
import { NAME_LABEL } from '../../tasks/common/kube/generate';
import { TRACK_LABEL, runCanary, stableModel, trackDeployment } from '../../tasks/common/kube/strategy/canary';
import { ANNOTATION_KEYS } from '../../tasks/common/kube/types';
import { canaryStepsMarkdown } from '../../tasks/common/pipeline/canaryReport';
import { StoppedError } from '../../tasks/common/net/errors';
import type { PodRequest } from '../support/cluster';
import { recordingLog } from '../support/capture';
import { GOOD, OTHER, type StrategyFixture, scoreAnswer, startStrategyFixture } from '../support/strategyFixture';

/** Aborts the run under test when a pod of this image is first asked for a score (mid-step). */
let stopOnScore: { image: string; controller: AbortController } | undefined;

function podApp(request: PodRequest) {
  const { image } = request.container;
  const path = request.path.split('?')[0];
  if (path === '/version') return { status: 200, body: { model_digest: image.endsWith(':wrong') ? OTHER : GOOD } };
  if (path !== '/score' || request.method !== 'POST') return undefined;
  if (stopOnScore?.image === image) stopOnScore.controller.abort(new StoppedError('cancelled', 'the test cancelled the run'));
  return scoreAnswer(image);
}

interface DeploymentView { metadata: { generation: number }; spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } } } }

describe('canary strategy (scripted pods)', function () {
  let fixture: StrategyFixture;
  const namespace = 'canary';
  const request = (image: string) => fixture.request(image);
  const context = () => fixture.context();
  const stable = () => fixture.sim.get('Deployment', namespace, 'churn') as DeploymentView;
  const tracksLeft = () => fixture.sim.list('Deployment', namespace).map((d) => (d as { metadata: { name: string } }).metadata.name).filter((n) => n !== 'churn');
  const settings = (steps: { percent: number; seconds: number }[]) => ({ steps, requestsPerSecond: 20, onInconclusive: 'abort' as const });

  before(async () => {
    fixture = await startStrategyFixture({ namespace, podApp });
  });
  after(async () => {
    await fixture?.stop();
    assert.deepEqual(fixture.sim.errors, []);
  });

  it('keeps a dark track out of the Service selector and selects a served one', () => {
    const dark = trackDeployment(fixture.app, namespace, 'img', 'canary', 1, false) as unknown as DeploymentView;
    const served = trackDeployment(fixture.app, namespace, 'img', 'baseline', 1, true) as unknown as DeploymentView;
    assert.equal(dark.spec.template.metadata.labels[NAME_LABEL], undefined);
    assert.equal(dark.spec.template.metadata.labels[TRACK_LABEL], 'canary');
    assert.equal(served.spec.template.metadata.labels[NAME_LABEL], 'churn');
  });

  it("gives the baseline the stable pods' model annotations, not the canary's", () => {
    const model = stableModel({ spec: { template: { metadata: { annotations: { [ANNOTATION_KEYS.modelDigest]: GOOD, [ANNOTATION_KEYS.modelVersion]: '3', other: 'x' } } } } });
    assert.deepEqual(model, { modelDigest: GOOD, modelVersion: '3' });
    const baseline = trackDeployment({ ...fixture.app, annotations: model }, namespace, 'img', 'baseline', 1, true) as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
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
    // kubectl as a user would run it while the canary is on, asynchronously: the simulator runs in this process.
    const seen: { name: string; track: string; served: boolean; image: string }[][] = [];
    let running = true;
    const watching = (async () => {
      while (running) {
        const stdout = await fixture.kubectl('get', 'pods', '-l', TRACK_LABEL, '-o', 'json');
        const pods = (JSON.parse(stdout) as { items: { metadata: { name: string; labels: Record<string, string> }; spec: { containers: { image: string }[] } }[] }).items;
        seen.push(pods.map((pod) => ({ name: pod.metadata.name, track: pod.metadata.labels[TRACK_LABEL]!, served: pod.metadata.labels[NAME_LABEL] === 'churn', image: pod.spec.containers[0]!.image })));
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    const result = await runCanary(request('registry.example/churn:good2'), settings([{ percent: 0, seconds: 2 }, { percent: 50, seconds: 2 }]), context()).finally(() => {
      running = false;
    });
    await watching;
    const left = await fixture.kubectl('get', 'deployments', '-l', TRACK_LABEL, '-o', 'name');
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

  it('removes canary and baseline when the run is cancelled mid-step, the stable Deployment untouched (kubectl shows it)', async () => {
    const before = stable().metadata.generation;
    const controller = new AbortController();
    stopOnScore = { image: 'registry.example/churn:cancelled', controller };
    const log = recordingLog();
    try {
      await assert.rejects(runCanary(request('registry.example/churn:cancelled'), settings([{ percent: 50, seconds: 30 }]), { ...fixture.context(undefined, log), signal: controller.signal }),
        (error: Error) => error instanceof StoppedError && error.reason === 'cancelled');
    } finally {
      stopOnScore = undefined;
    }
    assert.ok(controller.signal.aborted, 'the run was cancelled mid-step');
    assert.equal((await fixture.kubectl('get', 'deployments', '-l', TRACK_LABEL, '-o', 'name')).trim(), '', 'kubectl shows no track Deployment');
    assert.deepEqual(tracksLeft(), []);
    assert.equal(stable().metadata.generation, before);
    assert.ok(log.lines.some((line) => /stopped before its verdict.*removing its tracks 'churn-canary' and 'churn-baseline'.*'churn' was not touched/.test(line)), log.lines.join('\n'));
    assert.ok(log.lines.some((line) => /Removed deployment 'churn-canary'/.test(line)), log.lines.join('\n'));
  });
  it('with no stable Deployment to compare with, rolls the image out directly and says so: promoted, report baseline none, no steps', async () => {
    const first = { ...request('registry.example/churn:good'), namespace: 'canary-first' };
    const log = recordingLog();
    const result = await runCanary(first, settings([{ percent: 50, seconds: 10 }]), fixture.context(undefined, log));
    assert.equal(result.verdict, 'promoted');
    assert.equal(result.report?.baseline, 'none');
    assert.equal(result.report?.verdict, 'promoted');
    assert.deepEqual(result.report?.steps, []);
    assert.equal(result.report?.stableImage, '');
    assert.equal(result.report?.canaryImage, 'registry.example/churn:good');
    assert.equal(result.deployed?.deployedImage, 'registry.example/churn:good');
    assert.ok(log.lines.some((line) => /no running model to compare a canary with, so the new image is rolled out directly.*baseline none/.test(line)), log.lines.join('\n'));
    assert.ok(!log.lines.some((line) => /Canary step/.test(line)), log.lines.join('\n'));
    const markdown = canaryStepsMarkdown('Canary', result.report!);
    assert.match(markdown, /No stable Deployment to compare with: the image was rolled out directly/);
    assert.doesNotMatch(markdown, /\| Step \|/);
  });
});
