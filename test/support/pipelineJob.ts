/**
 * One pipeline job of consecutive steps, as the agent runs it: before a step starts, the agent
 * expands the macros in its inputs — `$(fetch.modelPath)` from the output variables of an earlier
 * step named `fetch` (the step's `name:` in YAML), `$(Build.BuildId)` from the job's variables and
 * secret variables — then runs the bundled task (runTask). The steps share one Agent.TempDirectory,
 * as steps of one job do, so a file one step writes there is still there for the next.
 *
 * Unlike the agent, which leaves an unknown macro as it is, a macro that names nothing fails at
 * once: a typo in a test should say so, not surface as a task failing on a literal "$(...)".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTask, type RunTaskOptions, type TaskRun } from './taskRunner';

export type StepOptions = Omit<RunTaskOptions, 'variables' | 'secretVariables'>;

const MACRO = /\$\(([^()]+)\)/g;

export class PipelineJob {
  /** Every step run so far, by step name, in order. */
  readonly steps = new Map<string, TaskRun>();
  readonly tempDirectory: string;
  private readonly root: string;
  private readonly variables: Record<string, string>;

  constructor(variables: Record<string, string> = {}, private readonly secretVariables: Record<string, string> = {}) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'pipeline-job-'));
    this.tempDirectory = path.join(this.root, '_temp');
    fs.mkdirSync(this.tempDirectory);
    this.variables = { 'Agent.TempDirectory': this.tempDirectory, ...variables };
  }

  /** The value with every `$(name)` replaced; names are case-insensitive, as the agent's are. */
  expand(value: string, where: string): string {
    return value.replace(MACRO, (macro, name: string) => {
      const found = this.lookup(name.trim());
      if (found === undefined) throw new Error(`${where}: ${macro} names no variable and no output of an earlier step (${[...this.steps.keys()].join(', ') || 'none yet'})`);
      return found;
    });
  }

  /** Runs one step with its inputs expanded, records it under `name` and returns it. */
  async step(name: string, options: StepOptions): Promise<TaskRun> {
    if (this.steps.has(name)) throw new Error(`step name '${name}' is used twice in this job`);
    const inputs = Object.fromEntries(Object.entries(options.inputs).map(([input, value]) => [input, this.expand(value, `step '${name}', input '${input}'`)]));
    const run = await runTask({ ...options, inputs, variables: this.variables, secretVariables: this.secretVariables });
    this.steps.set(name, run);
    return run;
  }

  /** A step run by name; fails if it has not run. */
  get(name: string): TaskRun {
    const run = this.steps.get(name);
    if (!run) throw new Error(`no step named '${name}' has run in this job`);
    return run;
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  private lookup(name: string): string | undefined {
    const lower = name.toLowerCase();
    const dot = lower.indexOf('.');
    const step = dot > 0 ? [...this.steps.entries()].find(([stepName]) => stepName.toLowerCase() === lower.slice(0, dot)) : undefined;
    if (step) {
      const output = Object.entries(step[1].outputs).find(([key]) => key.toLowerCase() === lower.slice(dot + 1));
      if (!output) throw new Error(`$(${name}): step '${step[0]}' set no output variable '${name.slice(dot + 1)}' (it set: ${Object.keys(step[1].outputs).join(', ') || 'none'})`);
      return output[1];
    }
    const all = { ...this.variables, ...this.secretVariables };
    return Object.entries(all).find(([key]) => key.toLowerCase() === lower)?.[1];
  }
}
