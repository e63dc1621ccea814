/** Runs one task's L0 bundle through MockTestRunner with the shared scenario (test/l0/taskScenario.js). */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { MockTestRunner } from 'azure-pipelines-task-lib/mock-test';

const scenario = join(__dirname, 'taskScenario.js');

/** `env` (endpoints, say) is set for the run only; MockTestRunner blocks this process meanwhile. */
export async function runL0(task: string, inputs: Record<string, string>, nodePath: string, env: Record<string, string> = {}): Promise<MockTestRunner> {
  const added = Object.keys({ ...env, L0_TASK: '', L0_INPUTS: '' }).filter((name) => !(name in process.env));
  Object.assign(process.env, env, { L0_TASK: task, L0_INPUTS: JSON.stringify(inputs) });
  try {
    const runner = new MockTestRunner(scenario, join(__dirname, '..', '..', 'dist', 'l0', task, 'task.json'));
    runner.nodePath = nodePath;
    await runner.runAsync();
    assert.ok(runner.stdout.length < 1024 * 1024, 'task output stays under 1 MiB');
    return runner;
  } finally {
    for (const name of added) delete process.env[name];
  }
}
