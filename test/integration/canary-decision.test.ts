/**
 * Deciding later, against the cluster simulator's scripted pods: a manual canary is left running
 * with its state in an annotation kubectl shows; a new connection (as a later job with a fresh
 * token has) promotes from that annotation alone; another is aborted with the stable Deployment's
 * generation unchanged; tampered or malformed state is refused; a failing canary is aborted even in
 * manual mode; nothing pending is a clear error for promote and a warning for abort.
 */
import * as assert from 'node:assert/strict';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import type { DeployRequest } from '../../tasks/common/kube/deploy';
import { type CanarySettings, runCanary } from '../../tasks/common/kube/strategy/canary';
import { CANARY_STATE_ANNOTATION, CanaryStateError, decodeState } from '../../tasks/common/kube/strategy/canaryState';
import { type CanaryDecision, decideCanary } from '../../tasks/common/kube/strategy/decision';
import { StoppedError } from '../../tasks/common/net/errors';
import type { PodRequest } from '../support/cluster';
import { recordingLog } from '../support/capture';
import { testNetwork } from '../support/services';
import { GOOD, type StrategyFixture, scoreAnswer, startStrategyFixture } from '../support/strategyFixture';

function podApp(request: PodRequest) {
  const route = request.path.split('?')[0];
  if (route === '/version') return { status: 200, body: { model_digest: GOOD } };
  if (route !== '/score' || request.method !== 'POST') return undefined;
  return scoreAnswer(request.container.image);
}

interface DeploymentView { metadata: { generation: number; annotations?: Record<string, string> }; spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } } } }

describe('canary: deciding later (scripted pods)', function () {
  let fixture: StrategyFixture;
  const namespace = 'later';
  const runAnnotations = { 'azure-pipelines/execution': '20261207.5', 'azure-pipelines/executionuri': 'https://dev.azure.com/contoso/churn/_build/results?buildId=5' };
  const request = (image: string): DeployRequest => fixture.request(image);
  const manual: CanarySettings = { steps: [{ percent: 0, seconds: 2 }, { percent: 50, seconds: 2 }], requestsPerSecond: 20, onInconclusive: 'abort', decision: 'manual' };
  const context = (on?: Cluster, log = recordingLog()) => fixture.context(on, log);
  const decision = (action: 'promote' | 'abort', extra: Partial<CanaryDecision> = {}): CanaryDecision => {
    const { image: _image, modelCheck: _check, workload: _workload, ...rest } = request('unused');
    return { action, request: { ...rest, app: fixture.app }, modelProbe: { path: '/version', field: 'model_digest' }, ...extra };
  };
  /** A later job: its own connection to the cluster, nothing kept from the run that started the canary. */
  const laterJob = async <T>(work: (fresh: Cluster) => Promise<T>): Promise<T> => {
    const fresh = connectCluster(fixture.sim.kubeconfig(), { network: testNetwork });
    try {
      return await work(fresh);
    } finally {
      fresh.close();
    }
  };
  const stable = () => fixture.sim.get('Deployment', namespace, 'churn') as DeploymentView;
  const tracksLeft = () => fixture.sim.list('Deployment', namespace).map((d) => (d as { metadata: { name: string } }).metadata.name).filter((n) => n !== 'churn').sort();
  const kubectl = (...args: string[]) => fixture.kubectl(...args);

  before(async () => {
    fixture = await startStrategyFixture({ namespace, podApp, app: { annotations: { modelVersion: '2', modelDigest: GOOD } }, request: { runAnnotations } });
  });
  after(async () => {
    await fixture?.stop();
    assert.deepEqual(fixture.sim.errors, []);
  });

  it('leaves a manual canary running at its last step, its state on <app>-canary for kubectl to show', async () => {
    const before = stable().metadata.generation;
    const result = await runCanary(request('registry.example/churn:good2'), manual, context());
    assert.equal(result.verdict, 'pending', JSON.stringify(result.report?.steps.map((s) => s.verdict)));
    assert.equal(result.report?.verdict, 'pending');
    assert.equal(result.report?.recommendation, 'promote');
    assert.equal(result.deployed, undefined);
    assert.deepEqual(tracksLeft(), ['churn-baseline', 'churn-canary']);
    assert.equal(stable().metadata.generation, before, 'the stable Deployment is untouched');
    const shown = JSON.parse(await kubectl('get', 'deployment', 'churn-canary', '-o', 'json')) as DeploymentView;
    const state = decodeState(shown.metadata.annotations?.[CANARY_STATE_ANNOTATION], 'churn-canary');
    assert.equal(state.image, 'registry.example/churn:good2');
    assert.equal(state.stableImage, 'registry.example/churn:good');
    assert.deepEqual(state.model, { modelVersion: '2', modelDigest: GOOD });
    assert.deepEqual(state.step, { reached: 2, of: 2, percent: 50, replicas: 1, canaryShare: 1 / 4 });
    assert.deepEqual([state.outcome, state.recommendation], ['pass', 'promote']);
    assert.equal(state.run['azure-pipelines/executionuri'], runAnnotations['azure-pipelines/executionuri']);
    assert.ok(Date.now() - Date.parse(state.recordedAt) >= 0);
    assert.deepEqual(result.state, state);
    const served = JSON.parse(await kubectl('get', 'pods', '-l', 'ai-model-delivery-tasks/track=canary,app.kubernetes.io/name=churn', '-o', 'json')) as { items: unknown[] };
    assert.equal(served.items.length, 1, 'the canary pod stays behind the Service at the last step\'s share');
  });

  it('refuses a new canary while one waits for a decision', async () => {
    await assert.rejects(runCanary(request('registry.example/churn:good3'), manual, context()),
      (error: unknown) => error instanceof TaskError && error.key === 'DeployCanaryAlreadyPending' && /churn-canary/.test(error.message));
    assert.deepEqual(tracksLeft(), ['churn-baseline', 'churn-canary']);
  });

  it('refuses to promote another image than the one under test, or a tampered or malformed state', async () => {
    await assert.rejects(decideCanary(decision('promote', { expectedImage: 'registry.example/churn:other' }), context()),
      (error: unknown) => error instanceof SettingError && error.setting === 'image' && /tests registry\.example\/churn:good2/.test(error.message));
    const original = (fixture.sim.get('Deployment', namespace, 'churn-canary') as DeploymentView).metadata.annotations![CANARY_STATE_ANNOTATION]!;
    const tamper = async (text: string) => kubectl('annotate', 'deployment', 'churn-canary', '--overwrite', `${CANARY_STATE_ANNOTATION}=${text}`);
    await tamper(original.replace('registry.example/churn:good2', 'registry.example/churn:evil'));
    await assert.rejects(decideCanary(decision('promote'), context()),
      (error: unknown) => error instanceof CanaryStateError && /'image' is registry\.example\/churn:evil, but the Deployment runs registry\.example\/churn:good2/.test(error.message));
    await tamper(original.replace(GOOD, `sha256:${'e'.repeat(64)}`));
    await assert.rejects(decideCanary(decision('promote'), context()), (error: unknown) => error instanceof CanaryStateError && /model\.modelDigest/.test(error.problem));
    await tamper('{"version": 1, "image": ');
    await assert.rejects(decideCanary(decision('promote'), context()), (error: unknown) => error instanceof CanaryStateError && /not JSON/.test(error.problem));
    assert.equal(stable().spec.template.spec.containers[0]!.image, 'registry.example/churn:good', 'nothing was rolled out');
    assert.deepEqual(tracksLeft(), ['churn-baseline', 'churn-canary'], 'nothing was removed');
    await tamper(original);
  });

  it('promotes from the annotations alone, through a new connection: the recorded image and model rolled out, the tracks gone', async () => {
    const log = recordingLog();
    const result = await laterJob((fresh) => decideCanary(decision('promote'), context(fresh, log)));
    assert.equal(result.verdict, 'promoted');
    assert.equal(result.state?.image, 'registry.example/churn:good2');
    assert.equal(result.deployed?.deployedImage, 'registry.example/churn:good2');
    assert.equal(result.deployed?.modelVerified, true, 'the recorded model was asked of every new pod');
    const now = stable();
    assert.equal(now.spec.template.spec.containers[0]!.image, 'registry.example/churn:good2');
    assert.equal(now.spec.template.metadata.annotations?.['ai.model.version'], '2');
    assert.deepEqual(tracksLeft(), []);
    assert.ok(log.lines.some((line) => /Canary of image registry\.example\/churn:good2 .*recorded .* by run https:\/\/dev\.azure\.com/.test(line)), log.lines.join('\n'));
  });

  it('aborts from the annotations alone, through a new connection: tracks gone, the stable generation unchanged', async () => {
    const started = await runCanary(request('registry.example/churn:good3'), manual, context());
    assert.equal(started.verdict, 'pending');
    const before = stable().metadata.generation;
    const result = await laterJob((fresh) => decideCanary(decision('abort'), context(fresh)));
    assert.equal(result.verdict, 'aborted');
    assert.equal(result.state?.image, 'registry.example/churn:good3');
    assert.equal(result.deployed, undefined);
    assert.deepEqual(tracksLeft(), []);
    assert.equal(stable().metadata.generation, before);
    assert.equal(stable().spec.template.spec.containers[0]!.image, 'registry.example/churn:good2');
  });

  it('aborts a canary whose state is unusable, warning why: abort needs no state', async () => {
    assert.equal((await runCanary(request('registry.example/churn:good4'), manual, context())).verdict, 'pending');
    await kubectl('annotate', 'deployment', 'churn-canary', '--overwrite', `${CANARY_STATE_ANNOTATION}=not json`);
    await assert.rejects(decideCanary(decision('promote'), context()), CanaryStateError);
    const log = recordingLog();
    const result = await decideCanary(decision('abort'), context(undefined, log));
    assert.deepEqual([result.verdict, result.state], ['aborted', undefined]);
    assert.ok(log.lines.some((line) => /not JSON.*Removing the canary anyway/.test(line)), log.lines.join('\n'));
    assert.deepEqual(tracksLeft(), []);
  });

  it('aborts a failing canary at once even in manual mode: no state, nothing left', async () => {
    const before = stable().metadata.generation;
    const result = await runCanary(request('registry.example/churn:slow'), { ...manual, steps: [{ percent: 50, seconds: 2 }] }, context());
    assert.equal(result.verdict, 'aborted');
    assert.equal(result.state, undefined);
    assert.deepEqual(tracksLeft(), []);
    assert.equal(stable().metadata.generation, before);
  });

  it('with nothing waiting: promote fails saying so, abort warns and changes nothing', async () => {
    await assert.rejects(decideCanary(decision('promote'), context()),
      (error: unknown) => error instanceof TaskError && error.key === 'DeployCanaryNothingPending' && /No canary waits for a decision in namespace 'later'/.test(error.message));
    const log = recordingLog();
    const result = await decideCanary(decision('abort'), context(undefined, log));
    assert.deepEqual(result, { verdict: 'aborted' });
    assert.ok(log.lines.some((line) => /No canary to abort in namespace 'later'/.test(line)), log.lines.join('\n'));
  });

  it('leaves alone a Deployment merely named <app>-canary', async () => {
    await kubectl('create', 'deployment', 'churn-canary', '--image=registry.example/someone-else:1');
    await assert.rejects(decideCanary(decision('abort'), context()), (error: unknown) => error instanceof TaskError && error.key === 'DeployCanaryNotOurs');
    assert.deepEqual(tracksLeft(), ['churn-canary']);
    await kubectl('delete', 'deployment', 'churn-canary');
  });

  it('cancelled as its state is stored, a manual canary keeps running for its decision; cancelled before, it is removed', async () => {
    const before = stable().metadata.generation;
    const early = new AbortController();
    const stopEarly = fixture.sim.onChange((kind, object) => {
      if (kind === 'Deployment' && (object as { metadata: { name: string } }).metadata.name === 'churn-canary') early.abort(new StoppedError('cancelled', 'the test cancelled the run'));
    });
    await assert.rejects(runCanary(request('registry.example/churn:good7'), manual, { ...context(), signal: early.signal }).finally(stopEarly),
      (error: Error) => error instanceof StoppedError && error.reason === 'cancelled');
    assert.equal((await kubectl('get', 'deployments', '-l', 'ai-model-delivery-tasks/track', '-o', 'name')).trim(), '', 'kubectl shows no track left');

    const late = new AbortController();
    const stopLate = fixture.sim.onChange((kind, object) => {
      const deployment = object as { metadata: { name: string; annotations?: Record<string, string> } };
      if (kind === 'Deployment' && deployment.metadata.annotations?.[CANARY_STATE_ANNOTATION] !== undefined) late.abort(new StoppedError('cancelled', 'the test cancelled the run'));
    });
    const log = recordingLog();
    await assert.rejects(runCanary(request('registry.example/churn:good7'), manual, { ...context(undefined, log), signal: late.signal }).finally(stopLate),
      (error: Error) => error instanceof StoppedError && error.reason === 'cancelled');
    assert.deepEqual(tracksLeft(), ['churn-baseline', 'churn-canary']);
    assert.ok(log.lines.some((line) => /after the canary state was recorded on deployment 'churn-canary'.*keeps running/.test(line)), log.lines.join('\n'));
    assert.equal(stable().metadata.generation, before);
    await decideCanary(decision('abort'), context());
    assert.deepEqual(tracksLeft(), []);
  });
});
