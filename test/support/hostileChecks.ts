/**
 * The four things every hostile-peer case asserts about a task run: a clear failure that names
 * the input or the peer, no secret in any output, no agent command beyond the task's own, and
 * nothing half-written.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertNoSecrets, type TaskRun } from './taskRunner';

/** The commands a task of ours may send; setvariable only for the outputs its task.json declares. */
const OWN_COMMANDS = new Set(['task.setvariable', 'task.setsecret', 'task.debug', 'task.issue', 'task.logissue', 'task.complete', 'task.setprogress', 'task.addattachment', 'task.uploadsummary']);

function declaredOutputs(taskDir: string): Set<string> {
  const task = JSON.parse(fs.readFileSync(path.join(taskDir, 'task.json'), 'utf8')) as { outputVariables?: { name: string }[] };
  return new Set((task.outputVariables ?? []).map((output) => output.name));
}

/** Throws when the run's output holds a command the agent would act on that the task did not mean to send. */
export function assertOnlyOwnCommands(run: Pick<TaskRun, 'stdout' | 'stderr' | 'commands'>, taskDir: string): void {
  const outputs = declaredOutputs(taskDir);
  for (const { command, properties } of run.commands) {
    assert.ok(OWN_COMMANDS.has(command), `the output carries a foreign agent command: ${command}`);
    if (command === 'task.setvariable') assert.ok(outputs.has(properties.variable) && properties.isOutput === 'true', `the output sets variable '${properties.variable}', which is not a declared output`);
  }
  // The agent also acts on formatting commands (##[error], ##[group], ...) at the start of a line.
  const formatting = `${run.stdout}\n${run.stderr}`.split(/\r?\n/).filter((line) => /^\s*##\[/.test(line));
  assert.deepEqual(formatting, [], 'the output starts a line with a formatting command');
  // stderr is read for commands too.
  const stderrCommands = run.stderr.split(/\r?\n/).filter((line) => /##vso\[/i.test(line));
  assert.deepEqual(stderrCommands, [], 'stderr carries an agent command');
}

export interface CleanFailure {
  readonly taskDir: string;
  /** What the error message must name: the input or the peer. */
  readonly names: RegExp;
  readonly secrets?: Record<string, string>;
  /** Paths that must not exist after the run (a destination, a staging folder, a temporary login). */
  readonly absent?: readonly string[];
  /** Folders whose listing must not show leftovers (.partial-*, bake-*, staged models). */
  readonly noLeftoversIn?: readonly string[];
}

export function assertCleanFailure(run: TaskRun, expected: CleanFailure): void {
  assert.equal(run.result.status, 'Failed', `expected a failure, got ${run.result.status}: ${run.result.message}`);
  assert.match(run.result.message, expected.names);
  assert.ok(!run.timedOut, 'the task had to be killed');
  assertNoSecrets(run, expected.secrets ?? {});
  assertOnlyOwnCommands(run, expected.taskDir);
  for (const absent of expected.absent ?? []) assert.ok(!fs.existsSync(absent), `${absent} was left behind`);
  for (const folder of expected.noLeftoversIn ?? []) {
    const leftovers = fs.existsSync(folder) ? fs.readdirSync(folder).filter((name) => /\.partial-|^bake-|^\.bake-model-|^pipeline-artifact-/.test(name)) : [];
    assert.deepEqual(leftovers, [], `left behind in ${folder}`);
  }
}
