/** A canary step's analysis, pure: pod signals, samples per track, step verdicts, the decision and the report. */
import * as assert from 'node:assert/strict';
import { type PodSnapshot, TrackRecorder, decide, judgeStep, plannedRequests, podSignals, reportText } from '../../tasks/common/kube/strategy/analysis';
import type { TrackSamples } from '../../tasks/common/kube/strategy/statistics';

function pod(name: string, restarts: number, ready: boolean, terminated?: string): PodSnapshot {
  return {
    metadata: { name, uid: `uid-${name}` },
    status: {
      phase: 'Running',
      containerStatuses: [{ name: 'app', restartCount: restarts, ...(terminated ? { lastState: { terminated: { reason: terminated } } } : {}) }],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}

const steady = (count: number, ms: number, errors = 0): TrackSamples => ({
  latenciesMs: Array.from({ length: count }, (_, i) => ms + (i % 7)),
  requests: count,
  errors,
});

describe('canary analysis, pure', () => {
  it('passes pods that stay ready without restarts or warnings', () => {
    const check = podSignals([[pod('a', 2, true)], [pod('a', 2, true), pod('b', 0, false)], [pod('a', 2, true), pod('b', 0, true)]], [
      { type: 'Normal', reason: 'Pulled', involvedObject: { kind: 'Pod', name: 'a' } },
      { type: 'Warning', reason: 'BackOff', involvedObject: { kind: 'Pod', name: 'stable-pod' } },
    ]);
    assert.deepEqual(check, { check: 'podSignals', verdict: 'pass', pods: 2, restarts: 0, oomKilled: 0, readinessFlaps: 0, warnings: [] });
  });

  it('fails on a restart during the step, an OOMKilled container, a readiness flap or a Warning event', () => {
    assert.equal(podSignals([[pod('a', 0, true)], [pod('a', 1, true)]], []).restarts, 1);
    assert.equal(podSignals([[pod('a', 0, true)], [pod('a', 1, true)]], []).verdict, 'fail');
    const oom = podSignals([[pod('a', 0, true, 'OOMKilled')]], []);
    assert.deepEqual([oom.verdict, oom.oomKilled], ['fail', 1]);
    const flap = podSignals([[pod('a', 0, true)], [pod('a', 0, false)], [pod('a', 0, true)]], []);
    assert.deepEqual([flap.verdict, flap.readinessFlaps], ['fail', 1]);
    const warned = podSignals([[pod('a', 0, true)]], [
      { type: 'Warning', reason: 'Unhealthy', message: 'Readiness probe failed', involvedObject: { kind: 'Pod', name: 'a' } },
      { type: 'Warning', reason: 'Unhealthy', message: 'Readiness probe failed', involvedObject: { kind: 'Pod', name: 'a' } },
    ]);
    assert.deepEqual([warned.verdict, warned.warnings], ['fail', ['a: Unhealthy Readiness probe failed']]);
  });

  it('records samples per track: errors count every failed request, latency only answered ones', () => {
    const recorder = new TrackRecorder();
    recorder.record('canary', { latencyMs: 12, ok: true });
    recorder.record('canary', { latencyMs: 30, ok: false });
    recorder.record('canary', { ok: false });
    recorder.record('baseline', { latencyMs: 10, ok: true });
    assert.deepEqual(recorder.samples('canary'), { latenciesMs: [12, 30], requests: 3, errors: 2 });
    assert.deepEqual(recorder.samples('baseline'), { latenciesMs: [10], requests: 1, errors: 0 });
    assert.equal(plannedRequests(5, { percent: 10, seconds: 10 }), 50);
    assert.equal(plannedRequests(0.01, { percent: 10, seconds: 10 }), 1);
  });

  it('judges a step from all its checks and decides: fail aborts, inconclusive aborts unless told to promote, the last pass promotes', () => {
    const size = { replicas: 1, canaryShare: 0.25 };
    const step = { percent: 50, seconds: 10 };
    const pods = podSignals([[pod('a', 0, true)]], []);
    const good = judgeStep(0, step, size, pods, { check: 'model', verdict: 'pass' }, steady(50, 20), steady(50, 20));
    assert.equal(good.verdict, 'pass');
    assert.deepEqual(good.checks.map((check) => [check.check, check.verdict]), [['podSignals', 'pass'], ['model', 'pass'], ['errorRate', 'pass'], ['latency', 'pass']]);
    assert.deepEqual(decide(good, false, 'abort'), { action: 'continue' });
    assert.deepEqual(decide(good, true, 'abort'), { action: 'promote', outcome: 'promoted' });

    const slow = judgeStep(0, step, size, pods, { check: 'model', verdict: 'pass' }, steady(50, 90), steady(50, 20));
    assert.equal(slow.verdict, 'fail');
    assert.deepEqual(decide(slow, true, 'promote'), { action: 'abort', outcome: 'aborted' });
    const wrongModel = judgeStep(0, step, size, pods, { check: 'model', verdict: 'fail', detail: 'digest differs' }, steady(50, 20), steady(50, 20));
    assert.equal(wrongModel.verdict, 'fail');

    const thin = judgeStep(0, step, size, pods, { check: 'model', verdict: 'pass' }, steady(5, 20), steady(5, 20));
    assert.equal(thin.verdict, 'inconclusive');
    assert.deepEqual(decide(thin, false, 'abort'), { action: 'abort', outcome: 'inconclusive' });
    assert.deepEqual(decide(thin, false, 'promote'), { action: 'promote', outcome: 'promoted' });
    const thinButFailing = judgeStep(0, step, size, pods, { check: 'model', verdict: 'fail' }, steady(5, 20), steady(5, 20));
    assert.equal(thinButFailing.verdict, 'fail');
  });

  it('writes the report as JSON that reads back to the same steps and numbers', () => {
    const pods = podSignals([[pod('a', 0, true)]], []);
    const step = judgeStep(0, { percent: 10, seconds: 10 }, { replicas: 1, canaryShare: 1 / 3 }, pods, { check: 'model', verdict: 'pass' }, steady(40, 80), steady(40, 20));
    const text = reportText({
      strategy: 'canary',
      deployment: 'churn',
      namespace: 'ml',
      stableImage: 'reg/churn@sha256:aa',
      canaryImage: 'reg/churn@sha256:bb',
      options: { minSamples: 30, alpha: 0.01, latencyTolerance: 0.1, errorRateTolerance: 0.01, requestsPerSecond: 5, onInconclusive: 'abort' },
      steps: [step],
      verdict: 'aborted',
    });
    assert.ok(text.endsWith('}\n'));
    const read = JSON.parse(text);
    assert.equal(read.verdict, 'aborted');
    assert.equal(read.steps[0].verdict, 'fail');
    const latency = read.steps[0].checks.find((check: { check: string }) => check.check === 'latency');
    assert.ok(latency.canaryMedianMs > latency.baselineMedianMs && latency.pValue < 0.01);
    assert.equal(read.steps[0].samples.canary.requests, 40);
  });
});
