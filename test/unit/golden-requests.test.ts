/** Golden predictions, the pure part: comparing answers, the p95, and the sample app's golden file. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareAnswer, p95, parseGoldenRequests } from '../../tasks/common/kube/goldenRequests';
import { fieldAt, modelAnswerProblem } from '../../tasks/common/kube/modelCheck';

const SAMPLE = path.join(__dirname, '..', '..', 'samples', 'flask-app', 'golden-requests.jsonl');

describe('golden requests and the model check, pure', () => {
  it('compares numbers within the tolerance, objects field by field, arrays item by item, the rest exactly', () => {
    assert.equal(compareAnswer({ p: 0.5 }, { p: 0.509, extra: 1 }, 0.01), undefined);
    assert.deepEqual(compareAnswer({ p: 0.5 }, { p: 0.52 }, 0.01), { at: '$.p', expected: 0.5, actual: 0.52 });
    assert.deepEqual(compareAnswer({ p: [1, 2] }, { p: [1] }, 0), { at: '$.p', expected: [1, 2], actual: [1] });
    assert.deepEqual(compareAnswer([{ label: 'churn' }], [{ label: 'stay' }], 1), { at: '$[0].label', expected: 'churn', actual: 'stay' });
    assert.deepEqual(compareAnswer({ a: { b: null } }, { a: {} }, 0), { at: '$.a.b', expected: null, actual: undefined });
    assert.deepEqual(compareAnswer(1, '1', 0), { at: '$', expected: 1, actual: '1' });
    assert.deepEqual(compareAnswer({ a: 1 }, [1], 0), { at: '$', expected: { a: 1 }, actual: [1] });
    assert.equal(compareAnswer(true, true, 0), undefined);
  });

  it('takes the nearest-rank p95', () => {
    assert.equal(p95([]), 0);
    assert.equal(p95([5]), 5);
    assert.equal(p95(Array.from({ length: 20 }, (_, i) => 20 - i)), 19);
    assert.equal(p95(Array.from({ length: 100 }, (_, i) => i + 1)), 95);
  });

  it("reads the sample app's golden file, which a constant predictor fails", () => {
    const requests = parseGoldenRequests(fs.readFileSync(SAMPLE, 'utf8'), SAMPLE);
    assert.equal(requests.length, 2);
    const constant = { predictions: [{ label: 'churn', probability: 0.5 }] };
    assert.ok(requests.some((request) => compareAnswer(request.expect, constant, request.tolerance)), 'a constant 0.5 passed every golden request');
    const trained = [{ predictions: [{ label: 'churn', probability: 0.9895 }] }, { predictions: [{ label: 'stay', probability: 0.008 }] }];
    requests.forEach((request, index) => assert.equal(compareAnswer(request.expect, trained[index], request.tolerance), undefined));
  });

  it('finds a dotted field and tells a wrong, missing or failed digest', () => {
    assert.equal(fieldAt({ model: { digest: 'x' } }, 'model.digest'), 'x');
    assert.equal(fieldAt({ model: ['x'] }, 'model.0'), undefined);
    const settings = { digest: 'sha256:aa', path: '/version', field: 'model_digest' };
    assert.equal(modelAnswerProblem('p', 200, { model_digest: 'sha256:aa' }, settings), undefined);
    assert.match(modelAnswerProblem('p', 200, { model_digest: 'sha256:bb' }, settings) ?? '', /pod 'p' serves model digest sha256:bb, but sha256:aa was deployed/);
    assert.match(modelAnswerProblem('p', 200, { model_digest: 7 }, settings) ?? '', /reports no model digest/);
    assert.match(modelAnswerProblem('p', 200, 'plain text', settings) ?? '', /reports no model digest .* \(it answered plain text\)/);
    assert.match(modelAnswerProblem('p', 404, { error: 'nope' }, settings) ?? '', /HTTP 404/);
    assert.ok(!(modelAnswerProblem('p', 200, { model_digest: `##vso[task.complete]${'x'.repeat(500)}` }, settings) ?? '').includes('x'.repeat(150)), 'a long digest was not truncated');
  });
});
