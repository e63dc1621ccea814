/** The canarySteps text and the size of each step, pure. */
import * as assert from 'node:assert/strict';
import { SettingError } from '../../tasks/common/errors';
import { formatTemplate, messages } from '../../tasks/common/messages';
import { parseCanarySteps, stepSize } from '../../tasks/common/kube/strategy/steps';

function failure(text: string, generatedService = true): string {
  try {
    parseCanarySteps(text, generatedService);
  } catch (error) {
    assert.ok(error instanceof SettingError, String(error));
    assert.equal(error.setting, 'canarySteps');
    return formatTemplate(messages[error.key], error.args, 'canarySteps');
  }
  assert.fail(`'${text}' was accepted`);
}

describe('canary steps', () => {
  it('reads percents and durations in s, m and h', () => {
    assert.deepEqual(parseCanarySteps('10%:5m, 50%:5m', false), [
      { percent: 10, seconds: 300 },
      { percent: 50, seconds: 300 },
    ]);
    assert.deepEqual(parseCanarySteps(' 0% : 10s ,25%:1h,100%:90s,', true), [
      { percent: 0, seconds: 10 },
      { percent: 25, seconds: 3600 },
      { percent: 100, seconds: 90 },
    ]);
  });

  it('refuses what it cannot read, naming the input, the step and what is accepted', () => {
    assert.match(failure(''), /^Input 'canarySteps': no canary steps are given\. .*'10%:5m, 50%:5m'/);
    assert.match(failure('10%'), /^Input 'canarySteps': canary step '10%' is not valid: it is not <percent>%:<duration>\. Write the steps as <percent>%:<duration>/);
    assert.match(failure('10:5m'), /canary step '10:5m' is not valid: it is not/);
    assert.match(failure('10%:5d'), /canary step '10%:5d' is not valid: it is not/);
    assert.match(failure('-5%:1m'), /canary step '-5%:1m' is not valid/);
    assert.match(failure('10%:1.5m'), /canary step '10%:1.5m' is not valid/);
    assert.match(failure('150%:1m'), /canary step '150%:1m' is not valid: 150% is more than 100%\./);
    assert.match(failure('10%:9s'), /canary step '10%:9s' is not valid: 9 s is shorter than the minimum of 10 s\./);
    assert.match(failure('10%:25h'), /canary step '10%:25h' is not valid: 90000 s is longer than the maximum of 24 h\./);
    assert.match(failure('50%:1m, 10%:1m'), /canary step '10%:1m' is not valid: it sends less traffic than the step before it \(50%\)/);
    assert.match(failure('0%:1m, 10%:1m', false), /canary step '0%:1m' is not valid: a 0% \(dark\) step needs the generated Service \(appName\)/);
  });

  it('sizes canary and baseline alike and reports the share the canary really gets', () => {
    assert.deepEqual(stepSize({ percent: 10, seconds: 10 }, 10), { replicas: 1, canaryShare: 1 / 12 });
    assert.deepEqual(stepSize({ percent: 50, seconds: 10 }, 4), { replicas: 2, canaryShare: 0.25 });
    assert.deepEqual(stepSize({ percent: 1, seconds: 10 }, 3), { replicas: 1, canaryShare: 0.2 });
    assert.deepEqual(stepSize({ percent: 0, seconds: 10 }, 3), { replicas: 1, canaryShare: 0 });
    assert.deepEqual(stepSize({ percent: 100, seconds: 10 }, 2), { replicas: 2, canaryShare: 1 / 3 });
  });
});
