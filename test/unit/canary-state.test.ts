/** The state of a canary waiting for a decision, pure: built from a report, encoded, and read back as hostile input. */
import * as assert from 'node:assert/strict';
import { type AnalysisReport, type PodSignalsCheck, judgeStep } from '../../tasks/common/kube/strategy/analysis';
import { CANARY_STATE_VERSION, CanaryStateError, MAX_STATE_CHARS, decodeState, encodeState, stateOf } from '../../tasks/common/kube/strategy/canaryState';
import { DEFAULT_COMPARISON, type TrackSamples } from '../../tasks/common/kube/strategy/statistics';

const DIGEST = `sha256:${'d'.repeat(64)}`;
const IMAGE = `myacr.azurecr.io/churn-app@sha256:${'a'.repeat(64)}`;
const STABLE = `myacr.azurecr.io/churn-app@sha256:${'b'.repeat(64)}`;
const pods: PodSignalsCheck = { check: 'podSignals', verdict: 'pass', pods: 1, restarts: 0, oomKilled: 0, readinessFlaps: 0, warnings: [] };
const steady = (count: number, ms: number): TrackSamples => ({ latenciesMs: Array.from({ length: count }, (_, i) => ms + (i % 5)), requests: count, errors: 0 });

function report(samples: number, onInconclusive: 'abort' | 'promote' = 'abort'): AnalysisReport {
  const steps = [
    judgeStep(0, { percent: 0, seconds: 10 }, { replicas: 1, canaryShare: 0 }, pods, { check: 'model', verdict: 'pass' }, steady(40, 20), steady(40, 20)),
    judgeStep(1, { percent: 50, seconds: 20 }, { replicas: 2, canaryShare: 0.25 }, pods, { check: 'model', verdict: 'pass' }, steady(samples, 20), steady(samples, 20)),
  ];
  return {
    strategy: 'canary', deployment: 'churn-app', namespace: 'prod', stableImage: STABLE, canaryImage: IMAGE,
    options: { ...DEFAULT_COMPARISON, requestsPerSecond: 5, onInconclusive }, steps, verdict: 'promoted',
  };
}

const run = { 'azure-pipelines/execution': '20261207.1', 'azure-pipelines/executionuri': 'https://dev.azure.com/contoso/churn/_build/results?buildId=9' };
const model = { modelVersion: '3', modelDigest: DIGEST, pipelineRun: 'https://dev.azure.com/contoso/churn/_build/results?buildId=9', commit: 'c0ffee' };
const now = new Date('2026-12-07T02:30:00.000Z');
const good = () => stateOf(report(40), { model, stepsPlanned: 2, run, now });

/** The encoded good state with one field replaced (or removed, with undefined). */
function tampered(path: string[], value: unknown): string {
  const state = JSON.parse(encodeState(good())) as Record<string, unknown>;
  let target = state as Record<string, unknown>;
  for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
  if (value === undefined) delete target[path.at(-1)!];
  else target[path.at(-1)!] = value;
  return JSON.stringify(state);
}

function refused(text: string | undefined, problem: RegExp): void {
  assert.throws(() => decodeState(text, 'churn-app-canary'), (error: unknown) => {
    assert.ok(error instanceof CanaryStateError, String(error));
    assert.match(error.problem, problem);
    assert.match(error.message, /Deployment 'churn-app-canary' holds no usable canary state in its annotation 'ai-model-delivery-tasks\/canary-state'/);
    assert.match(error.message, /action: abort/, 'says what to do');
    return true;
  });
}

describe('canary state, pure', () => {
  it('records the step reached, the outcome, the recommendation, the numbers, the run and the time', () => {
    const state = good();
    assert.equal(state.version, CANARY_STATE_VERSION);
    assert.deepEqual([state.app, state.namespace, state.image, state.stableImage], ['churn-app', 'prod', IMAGE, STABLE]);
    assert.deepEqual(state.model, model);
    assert.deepEqual(state.step, { reached: 2, of: 2, percent: 50, replicas: 2, canaryShare: 0.25 });
    assert.deepEqual([state.outcome, state.recommendation], ['pass', 'promote']);
    assert.equal(state.steps.length, 2);
    assert.deepEqual(state.steps[1]!.canary, { requests: 40, errors: 0, medianMs: 22 });
    assert.deepEqual(state.run, run);
    assert.equal(state.recordedAt, '2026-12-07T02:30:00.000Z');
  });

  it('recommends what onInconclusive says for an inconclusive step, and refuses a failed one', () => {
    const thin = stateOf(report(5), { model, stepsPlanned: 3, now });
    assert.deepEqual([thin.outcome, thin.recommendation, thin.step.reached, thin.step.of], ['inconclusive', 'abort', 2, 3]);
    assert.equal(stateOf(report(5, 'promote'), { model, stepsPlanned: 2, now }).recommendation, 'promote');
    const failed = { ...report(40), steps: [judgeStep(0, { percent: 10, seconds: 10 }, { replicas: 1, canaryShare: 0.1 }, pods, { check: 'model', verdict: 'fail' }, steady(40, 20), steady(40, 20))] };
    assert.throws(() => stateOf(failed, { model, stepsPlanned: 1, now }), /only after a step that did not fail/);
  });

  it('reads back exactly what it wrote', () => {
    assert.deepEqual(decodeState(encodeState(good()), 'churn-app-canary'), good());
    const bare = stateOf(report(40), { model: {}, stepsPlanned: 2, now });
    assert.deepEqual(decodeState(encodeState(bare), 'churn-app-canary'), bare);
  });

  it('always encodes a state it can read back: over-long run values left out, then the early steps, then the run', () => {
    const steps = Array.from({ length: 100 }, (_, i) => ({ ...good().steps[0]!, step: i + 1 }));
    const withLongName = decodeState(encodeState({ ...good(), run: { ...run, 'azure-pipelines/pipeline': 'p'.repeat(3000) } }), 'churn-app-canary');
    assert.deepEqual(withLongName.run, run);
    const manySteps = decodeState(encodeState({ ...good(), steps }), 'churn-app-canary');
    assert.equal(manySteps.steps.length, 100, 'a hundred steps fit');
    const bigRun = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`azure-pipelines/k${String.fromCharCode(97 + i)}`, 'x'.repeat(2000)]));
    const text = encodeState({ ...good(), steps, run: bigRun });
    assert.ok(text.length <= MAX_STATE_CHARS, `${text.length}`);
    const read = decodeState(text, 'churn-app-canary');
    assert.deepEqual([read.steps.length, Object.keys(read.run).length], [1, 0]);
  });

  it('refuses a missing, oversized, non-JSON or other-version state', () => {
    refused(undefined, /the annotation is missing/);
    refused('x'.repeat(MAX_STATE_CHARS + 1), /more than 32768/);
    refused('{"version": 1,', /not JSON/);
    refused('[1]', /'the annotation' is not an object/);
    refused(tampered(['version'], 2), /'version' is not 1/);
  });

  const cases: [string, string[], unknown, RegExp][] = [
    ['an image that is not a reference', ['image'], 'Churn App:latest', /'image' is not an image reference/],
    ['an image with a line break', ['image'], `${IMAGE}\n##vso[task.setvariable variable=x]y`, /'image' is not an image reference/],
    ['a missing stable image', ['stableImage'], undefined, /'stableImage' is not a text/],
    ['a model digest that is not sha256', ['model', 'modelDigest'], 'md5:abc', /'model\.modelDigest' is not sha256/],
    ['a model version with a space', ['model', 'modelVersion'], 'v 3', /'model\.modelVersion' has an unexpected form/],
    ['an app name that is not a DNS label', ['app'], 'Churn_App', /'app' has an unexpected form/],
    ['a step reached beyond the steps planned', ['step', 'reached'], 3, /'step\.reached' is not a whole number from 1 to 2/],
    ['a fractional replica count', ['step', 'replicas'], 1.5, /'step\.replicas' is not a whole number/],
    ['a share over 1', ['step', 'canaryShare'], 2, /'step\.canaryShare' is not a number from 0 to 1/],
    ['a failed outcome', ['outcome'], 'fail', /'outcome' is not one of pass, inconclusive/],
    ['an unknown recommendation', ['recommendation'], 'rollback', /'recommendation' is not one of promote, abort/],
    ['no steps', ['steps'], [], /'steps' is not a list of 1 to 100 steps/],
    ['a step that is not an object', ['steps'], ['pass'], /'steps\[0\]' is not an object/],
    ['a negative request count', ['steps', '0', 'canary', 'requests'], -1, /'steps\[0\]\.canary\.requests' is not a whole number/],
    ['a p-value that is not a number', ['steps', '1', 'latencyP'], 'low', /'steps\[1\]\.latencyP' is not a number from 0 to 1/],
    ['a run key of another prefix', ['run'], { 'kubectl.kubernetes.io/last-applied': 'x' }, /'run' has an unexpected key/],
    ['a run value with a line break', ['run', 'azure-pipelines/execution'], 'a\nb', /'run\.azure-pipelines\/execution' has an unexpected form/],
    ['a time that is not ISO UTC', ['recordedAt'], 'yesterday', /'recordedAt' has an unexpected form/],
  ];
  for (const [what, path, value, problem] of cases) {
    it(`refuses ${what}`, () => refused(tampered(path, value), problem));
  }
});
