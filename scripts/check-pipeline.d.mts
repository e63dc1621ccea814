// Types for scripts/check-pipeline.mjs, so the TypeScript tests can import it.
import type { TaskJson } from './validate-tasks.mjs';

export type TaskInput = NonNullable<TaskJson['inputs']>[number] & { required?: boolean; label?: string; aliases?: string[] };
export interface OurTask {
  json: TaskJson & { name: string; inputs: TaskInput[] };
  major: number | undefined;
}
export type Step = Record<string, unknown> & { task?: string; name?: string; inputs?: Record<string, unknown> };
export interface PipelineJob {
  name: string;
  deployment: boolean;
  node: Record<string, unknown>;
  dependsOn: string[];
  /** One step list per job, or per lifecycle hook of a deployment job. */
  scopes: Step[][];
}
export interface PipelineStage {
  name: string;
  node: Record<string, unknown>;
  dependsOn: string[];
  jobs: PipelineJob[];
}
export interface FoundTaskStep {
  stage: PipelineStage;
  job: PipelineJob;
  step: Step;
  name: string;
  major: number;
  task: OurTask;
}

export function loadOurTasks(root?: string): Map<string, OurTask>;
export function loadPipeline(file: string): unknown;
export function pipelineStages(doc: unknown): PipelineStage[];
export function taskSteps(doc: unknown, tasks?: Map<string, OurTask>): FoundTaskStep[];
export function givenInputs(taskJson: OurTask['json'], inputs?: Record<string, unknown>): Map<string, string>;
export function inputValues(taskJson: OurTask['json'], given: Map<string, string>): Map<string, string>;
export function ruleHolds(rule: string | undefined, values: Map<string, string>): boolean | null;
export function isVisible(taskJson: OurTask['json'], input: TaskInput, values: Map<string, string>): boolean | null;
export function cronProblems(cron: string): string[];
export function checkPipeline(doc: unknown, tasks?: Map<string, OurTask>): string[];
