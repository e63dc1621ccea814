import { strict as assert } from 'node:assert';
import { TextBlock } from '../../tasks/common/log';
import { defuseCommands, neutralize, outputValueProblem, safeArgument, safeLines } from '../../tasks/common/pipeline/output';
import { fakeAgent } from '../support/fakeAgent';

/** What the agent would act on: a `##vso[` anywhere in a line, or `##[` anywhere (we refuse both). */
function agentCommandsIn(output: string): string[] {
  return output.split(/\r?\n/).filter((line) => /##(vso)?\[/i.test(line));
}

describe('output boundary', () => {
  const hostile = [
    'churn/x ##vso[task.setvariable variable=INJECTED]pwned-9.9.9.onnx',
    'sha256:abc\n##vso[artifact.upload containerfolder=x;artifactname=x]/etc/hostname',
    'tag\r##[error]fake error',
    'name ##VSO[task.complete result=Succeeded;]done',
    'a\u2028##vso[task.setvariable variable=X]y',
    'esc \u001b[31mred\u001b[0m and bell \u0007',
  ];

  for (const text of hostile) {
    it(`neutralizes ${JSON.stringify(text).slice(0, 50)}`, () => {
      const safe = neutralize(text);
      assert.equal(agentCommandsIn(safe).length, 0, safe);
      assert.ok(!/[\r\n\u2028\u2029\u0000-\u001f]/.test(safe), `control characters left in ${JSON.stringify(safe)}`);
    });
  }

  it('keeps ordinary text as it is and shows what it escaped', () => {
    assert.equal(neutralize('churn/1.4.0/weights.bin'), 'churn/1.4.0/weights.bin');
    assert.equal(neutralize('a\nb'), 'a\\nb');
    assert.equal(defuseCommands('x ##vso[task.debug]y'), 'x #\\#vso[task.debug]y');
  });

  it('lets a TextBlock keep its lines but neutralizes each of them', () => {
    const block = new TextBlock(['pod app-1: ImagePullBackOff', 'event: ##vso[task.setvariable variable=A]b']);
    const rendered = String(safeArgument(block));
    assert.equal(rendered.split('\n').length, 2);
    assert.equal(agentCommandsIn(rendered).length, 0);
  });

  it('catches a prefix that two arguments form side by side', () => {
    const line = safeLines(`${safeArgument('ends with #')}${safeArgument('#vso[task.setvariable variable=X]y')}`);
    assert.equal(agentCommandsIn(line).length, 0, line);
  });

  it('refuses output values that would carry a command or a line break into a later step', () => {
    assert.match(outputValueProblem('a\nb') ?? '', /line break/);
    assert.match(outputValueProblem('x ##vso[task.debug]y') ?? '', /command prefix/);
    assert.match(outputValueProblem('##[error]y') ?? '', /command prefix/);
    assert.equal(outputValueProblem('registry.example/app@sha256:0123'), undefined);
  });

  it('is what the (fake) agent prints: peer text in a message cannot start a line or a command', () => {
    const agent = fakeAgent({});
    agent.log.info('ModelSelected', '9.9.9 ##vso[task.setvariable variable=INJECTED]x', 'uri\n##vso[task.complete result=Succeeded;]', 1, '1 B');
    assert.equal(agent.lines.length, 1);
    assert.equal(agent.lines[0].split('\n').length, 1);
    assert.equal(agentCommandsIn(agent.lines[0]).length, 0, agent.lines[0]);
  });
});
