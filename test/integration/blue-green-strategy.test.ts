/**
 * The blue-green strategy against the cluster simulator's scripted pods, one app through a sequence
 * of runs, each through deliver() as the task calls it: a wrong model is never switched to (the
 * Service's selector and the serving Deployment's generation unchanged, the new colour scaled to 0);
 * a good model is switched to in one apply (kubectl shows the selector on green, the preview Service
 * on green, the old colour still running with its keep-until); a model that fails the check through
 * the load balancer after the switch is switched back; the next good run flips back to blue; a later
 * run scales down the colour whose keep time (set in the past with kubectl) has passed; a re-run of
 * the serving image switches nothing; keep 0 scales the old colour down at once; rolling and canary
 * are refused while green serves.
 */
import * as assert from 'node:assert/strict';
import type { DeployRequest } from '../../tasks/common/kube/deploy';
import { NAME_LABEL } from '../../tasks/common/kube/generate';
import { COLOUR_LABEL, KEEP_UNTIL_ANNOTATION } from '../../tasks/common/kube/strategy/colours';
import { ROLLING, deliver } from '../../tasks/common/kube/strategy/deliver';
import { TaskError } from '../../tasks/common/errors';
import { TRACK_APP_LABEL } from '../../tasks/common/kube/strategy/canary';
import { StoppedError } from '../../tasks/common/net/errors';
import type { PodRequest } from '../support/cluster';
import { recordingLog } from '../support/capture';
import { GOOD, OTHER, type StrategyFixture, scoreAnswer, startStrategyFixture } from '../support/strategyFixture';

/** Cancels the run under test when a pod of this image is first asked this path. */
let stopOn: { image: string; path: string; controller: AbortController } | undefined;

/** `:wrong` reports another model; `:nosmoke` fails the smoke test, which only the load balancer's address gets. */
function podApp(request: PodRequest) {
  const { image } = request.container;
  const path = request.path.split('?')[0];
  if (stopOn?.image === image && stopOn.path === path) stopOn.controller.abort(new StoppedError('cancelled', 'the test cancelled the run'));
  if (path === '/version') return { status: 200, body: { model_digest: image.endsWith(':wrong') ? OTHER : GOOD } };
  if (path === '/smoke') return { status: image.endsWith(':nosmoke') ? 500 : 200, body: { ok: !image.endsWith(':nosmoke') } };
  if (path !== '/score' || request.method !== 'POST') return undefined;
  return scoreAnswer(image);
}

interface DeploymentView {
  metadata: { generation: number; annotations?: Record<string, string> };
  spec: { replicas: number; template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } } };
}
interface ServiceView { metadata: { generation?: number; resourceVersion: string }; spec: { selector: Record<string, string> } }

describe('blue-green strategy (scripted pods)', function () {
  let fixture: StrategyFixture;
  const namespace = 'bluegreen';
  const request = (image: string): DeployRequest => fixture.request(image);
  const context = (log = recordingLog()) => fixture.context(undefined, log);
  const blueGreen = (keepMinutes: number, previewService = false) => ({ kind: 'blueGreen' as const, settings: { keepMinutes, previewService } });
  const deployment = (name: string) => fixture.sim.get('Deployment', namespace, name) as DeploymentView | undefined;
  const service = (name = 'churn') => fixture.sim.get('Service', namespace, name) as ServiceView | undefined;
  const kubectl = (...args: string[]) => fixture.kubectl(...args);

  before(async () => {
    // What a team has before its first blue-green run: the rolling deploy's `churn`, serving.
    fixture = await startStrategyFixture({
      namespace, podApp, app: { serviceType: 'LoadBalancer' },
      request: { loadBalancerTimeoutMs: 10_000, smokeTest: { path: '/smoke', attempts: 2, intervalMs: 50, timeoutMs: 5_000 } },
    });
  });
  after(async () => {
    await fixture?.stop();
    assert.deepEqual(fixture.sim.errors, []);
  });

  it('never switches to a colour that serves the wrong model: selector and serving Deployment unchanged, the new colour scaled to 0', async () => {
    const selector = service()!.spec.selector;
    const version = service()!.metadata.resourceVersion;
    const serving = deployment('churn')!;
    const log = recordingLog();
    const result = await deliver(request('registry.example/churn:wrong'), blueGreen(30), context(log));
    assert.equal(result.verdict, 'aborted');
    assert.equal(result.deployed, undefined);
    assert.equal(result.blueGreen?.stage, 'pods');
    assert.equal(result.blueGreen?.activeColour, 'blue');
    assert.match(result.blueGreen?.detail ?? '', new RegExp(OTHER.slice(0, 20)));
    assert.equal(service()!.metadata.resourceVersion, version, 'the Service was never written');
    assert.deepEqual(selector, { [NAME_LABEL]: 'churn' }, 'the adopted app is served by its generated selector');
    assert.equal(deployment('churn')!.metadata.generation, serving.metadata.generation);
    assert.equal(deployment('churn')!.spec.template.spec.containers[0]!.image, 'registry.example/churn:good');
    assert.equal(deployment('churn-green')!.spec.replicas, 0);
    assert.ok(log.lines.some((line) => /aborted at the pods check/.test(line)), log.lines.join('\n'));
  });

  it('switches a good model to green in one apply: kubectl shows the selector and the preview on green, blue kept with its keep-until', async () => {
    const before = deployment('churn')!;
    const result = await deliver(request('registry.example/churn:good2'), blueGreen(30, true), context());
    assert.equal(result.verdict, 'promoted', JSON.stringify(result.blueGreen));
    assert.equal(result.blueGreen?.activeColour, 'green');
    assert.equal(result.deployed?.deploymentName, 'churn-green');
    assert.equal(result.deployed?.modelVerified, true);
    assert.ok(result.deployed?.service?.url, 'the address the golden requests went through');
    const selector = JSON.parse(await kubectl('get', 'service', 'churn', '-o', 'jsonpath={.spec.selector}')) as Record<string, string>;
    assert.deepEqual(selector, { [TRACK_APP_LABEL]: 'churn', [COLOUR_LABEL]: 'green' });
    const preview = JSON.parse(await kubectl('get', 'service', 'churn-preview', '-o', 'jsonpath={.spec.selector}')) as Record<string, string>;
    assert.deepEqual(preview, selector);
    assert.ok(result.blueGreen?.preview?.url, 'the preview got an address of its own');
    const pods = JSON.parse(await kubectl('get', 'pods', '-l', `${COLOUR_LABEL}=green`, '-o', 'json')) as { items: { spec: { containers: { image: string }[] } }[] };
    assert.deepEqual(pods.items.map((pod) => pod.spec.containers[0]!.image), ['registry.example/churn:good2', 'registry.example/churn:good2']);
    // Blue still runs the old image, untouched but for its keep-until.
    const blue = deployment('churn')!;
    assert.equal(blue.metadata.generation, before.metadata.generation);
    assert.equal(blue.spec.replicas, 2);
    assert.ok(Date.parse(blue.metadata.annotations?.[KEEP_UNTIL_ANNOTATION] ?? '') > Date.now() + 29 * 60_000);
    assert.equal(result.blueGreen?.keepUntil, blue.metadata.annotations?.[KEEP_UNTIL_ANNOTATION]);
  });

  it('switches back when the check through the load balancer fails after the switch', async () => {
    const selector = service()!.spec.selector;
    const green = deployment('churn-green')!;
    const log = recordingLog();
    const result = await deliver(request('registry.example/churn:nosmoke'), blueGreen(30), context(log));
    assert.equal(result.verdict, 'aborted');
    assert.equal(result.blueGreen?.newColour, 'blue');
    assert.equal(result.blueGreen?.stage, 'address');
    assert.equal(result.blueGreen?.switchedBack, true);
    assert.equal(result.blueGreen?.activeColour, 'green');
    assert.deepEqual(service()!.spec.selector, selector);
    assert.equal(deployment('churn-green')!.metadata.generation, green.metadata.generation);
    assert.equal(deployment('churn')!.spec.replicas, 0, 'the failed colour is scaled down');
    const switched = log.lines.findIndex((line) => /now selects the blue colour/.test(line));
    const back = log.lines.findIndex((line) => /switched it back to the green colour/.test(line));
    assert.ok(switched >= 0 && back > switched, log.lines.join('\n'));
  });

  it('flips back to blue on the next good run, its pods gaining the colour labels, green kept', async () => {
    const result = await deliver(request('registry.example/churn:good3'), blueGreen(30), context());
    assert.equal(result.verdict, 'promoted', JSON.stringify(result.blueGreen));
    assert.equal(result.blueGreen?.previousColour, 'green');
    assert.equal(result.blueGreen?.activeColour, 'blue');
    assert.equal(result.deployed?.deploymentName, 'churn');
    assert.deepEqual(service()!.spec.selector, { [TRACK_APP_LABEL]: 'churn', [COLOUR_LABEL]: 'blue' });
    const blue = deployment('churn')!;
    assert.equal(blue.spec.replicas, 2);
    assert.equal(blue.spec.template.metadata.labels[COLOUR_LABEL], 'blue');
    assert.equal(blue.metadata.annotations?.[KEEP_UNTIL_ANNOTATION], undefined, 'the serving colour has no keep-until');
    assert.equal(blue.spec.template.spec.containers[0]!.image, 'registry.example/churn:good3');
    assert.equal(deployment('churn-green')!.spec.replicas, 2);
    assert.ok(deployment('churn-green')!.metadata.annotations?.[KEEP_UNTIL_ANNOTATION]);
  });

  it('re-running the image that serves switches nothing, as a rolling re-run rolls nothing out', async () => {
    const version = service()!.metadata.resourceVersion;
    const blue = deployment('churn')!;
    const log = recordingLog();
    const result = await deliver(request('registry.example/churn:good3'), blueGreen(30), context(log));
    assert.equal(result.verdict, 'promoted');
    assert.equal(result.blueGreen?.activeColour, 'blue');
    assert.equal(result.deployed?.unchanged, true);
    assert.equal(result.deployed?.modelVerified, true);
    assert.equal(service()!.metadata.resourceVersion, version);
    assert.equal(deployment('churn')!.metadata.generation, blue.metadata.generation);
    assert.equal(deployment('churn-green')!.spec.replicas, 2, 'green is neither touched nor released');
    assert.ok(log.lines.some((line) => /already serves image registry\.example\/churn:good3/.test(line)), log.lines.join('\n'));
  });

  it('scales the old colour down on a later run once its keep time has passed (the task never waits for it)', async () => {
    await kubectl('annotate', 'deployment', 'churn-green', `${KEEP_UNTIL_ANNOTATION}=2020-01-01T00:00:00Z`, '--overwrite');
    const log = recordingLog();
    // Any later run: here a rolling one.
    const result = await deliver(request('registry.example/churn:good3'), ROLLING, context(log));
    assert.equal(result.deployed?.deploymentName, 'churn');
    const green = deployment('churn-green')!;
    assert.equal(green.spec.replicas, 0);
    assert.equal(green.metadata.annotations?.[KEEP_UNTIL_ANNOTATION], undefined);
    assert.ok(log.lines.some((line) => /Scaled deployment 'churn-green' down to 0 replicas: its keep-until time 2020-01-01T00:00:00Z has passed/.test(line)), log.lines.join('\n'));
    const replicas = await kubectl('get', 'deployment', 'churn-green', '-o', 'jsonpath={.spec.replicas}');
    assert.equal(replicas, '0');
  });

  it('keeps a colour whose keep-until is not a time, and says so', async () => {
    await kubectl('scale', 'deployment', 'churn-green', '--replicas=1');
    await kubectl('annotate', 'deployment', 'churn-green', `${KEEP_UNTIL_ANNOTATION}=tomorrow`, '--overwrite');
    const log = recordingLog();
    await deliver(request('registry.example/churn:good3'), ROLLING, context(log));
    assert.equal(deployment('churn-green')!.spec.replicas, 1);
    assert.ok(log.lines.some((line) => /keep-until time 'tomorrow'.*is left running/.test(line)), log.lines.join('\n'));
  });

  it('with blueGreenKeepMinutes 0 scales the old colour down right after the switch, and clears the new colour\'s old keep-until', async () => {
    const result = await deliver(request('registry.example/churn:good4'), blueGreen(0), context());
    assert.equal(result.verdict, 'promoted', JSON.stringify(result.blueGreen));
    assert.equal(result.blueGreen?.activeColour, 'green');
    assert.equal(result.blueGreen?.keepUntil, undefined);
    assert.equal(deployment('churn')!.spec.replicas, 0);
    assert.equal(deployment('churn-green')!.spec.replicas, 2);
    assert.equal(deployment('churn-green')!.metadata.annotations?.[KEEP_UNTIL_ANNOTATION], undefined);
    assert.deepEqual(service()!.spec.selector, { [TRACK_APP_LABEL]: 'churn', [COLOUR_LABEL]: 'green' });
  });

  it('refuses rolling and canary while green serves: they deploy to blue, which does not serve', async () => {
    const version = service()!.metadata.resourceVersion;
    const blue = deployment('churn')!;
    for (const strategy of [ROLLING, { kind: 'canary' as const, settings: { steps: [{ percent: 50, seconds: 10 }], requestsPerSecond: 5, onInconclusive: 'abort' as const } }]) {
      await assert.rejects(deliver(request('registry.example/churn:good5'), strategy, context()), (error: Error) =>
        error instanceof TaskError && /Service 'churn' selects the green colour \(deployment 'churn-green'\).*strategy (rolling|canary) deploys to deployment 'churn'/.test(error.message));
    }
    assert.equal(service()!.metadata.resourceVersion, version);
    assert.equal(deployment('churn')!.metadata.generation, blue.metadata.generation);
  });

  /** Runs blue-green for `image`, cancelled when one of its pods is first asked `path`; resolves with the log once it rejected with the cancel. */
  const cancelledAt = async (image: string, path: string) => {
    const controller = new AbortController();
    stopOn = { image, path, controller };
    const log = recordingLog();
    try {
      await assert.rejects(deliver(request(image), blueGreen(30), { ...context(log), signal: controller.signal }),
        (error: Error) => error instanceof StoppedError && error.reason === 'cancelled');
    } finally {
      stopOn = undefined;
    }
    return log;
  };
  const selectorByKubectl = async () => JSON.parse(await kubectl('get', 'service', 'churn', '-o', 'jsonpath={.spec.selector}')) as Record<string, string>;

  it('cancelled mid-verification, before the switch: the new colour is scaled to 0, the Service never written (kubectl shows it)', async () => {
    const version = service()!.metadata.resourceVersion;
    const selector = await selectorByKubectl();
    const serving = deployment('churn-green')!.metadata.generation;
    const log = await cancelledAt('registry.example/churn:stopproof', '/version');
    assert.equal(service()!.metadata.resourceVersion, version, 'the Service was never written');
    assert.deepEqual(await selectorByKubectl(), selector);
    assert.equal((await kubectl('get', 'deployment', 'churn', '-o', 'jsonpath={.spec.replicas}')).trim(), '0');
    assert.equal(deployment('churn')!.spec.template.spec.containers[0]!.image, 'registry.example/churn:stopproof');
    assert.equal(deployment('churn-green')!.metadata.generation, serving);
    assert.ok(log.lines.some((line) => /stopped before the switch.*scaling the new colour's deployment 'churn' down/.test(line)), log.lines.join('\n'));
  });

  it('cancelled after the switch, before the check through the address passed: the Service is switched back, the new colour scaled to 0', async () => {
    const selector = await selectorByKubectl();
    const serving = deployment('churn-green')!.metadata.generation;
    const log = await cancelledAt('registry.example/churn:stopsmoke', '/smoke');
    assert.ok(log.lines.some((line) => /Service 'churn' now selects the blue colour/.test(line)), `the run was cancelled after the switch:\n${log.lines.join('\n')}`);
    assert.deepEqual(await selectorByKubectl(), selector);
    assert.deepEqual(selector, { [TRACK_APP_LABEL]: 'churn', [COLOUR_LABEL]: 'green' });
    assert.equal((await kubectl('get', 'deployment', 'churn', '-o', 'jsonpath={.spec.replicas}')).trim(), '0');
    assert.equal(deployment('churn-green')!.metadata.generation, serving);
    assert.equal(deployment('churn-green')!.spec.replicas, 2);
    assert.ok(log.lines.some((line) => /stopped after its Service was switched.*switching it back from the blue colour to the green colour/.test(line)), log.lines.join('\n'));
    assert.ok(log.lines.some((line) => /Switched Service 'churn' back to the green colour \(deployment 'churn-green'\)/.test(line)), log.lines.join('\n'));
  });
});
