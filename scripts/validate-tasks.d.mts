// Types for scripts/validate-tasks.mjs, so the TypeScript tests can import it.

export interface LoadedTask {
  folder: string;
  file: string;
  /** The parsed task.json, or null when it does not parse (then `error` says why). */
  json: TaskJson | null;
  error: string | null;
}

/** The parts of task.json the checks read; everything else is checked by the schema. */
export interface TaskJson {
  id?: string;
  name?: string;
  friendlyName?: string;
  category?: string;
  instanceNameFormat?: string;
  version?: { Major?: number; Minor?: number; Patch?: number };
  groups?: Array<{ name: string; displayName?: string; visibleRule?: string }>;
  inputs?: Array<{
    name: string;
    type: string;
    groupName?: string;
    visibleRule?: string;
    defaultValue?: string;
    helpMarkDown?: string;
    options?: Record<string, string>;
    properties?: Record<string, string>;
  }>;
  execution?: Record<string, { target?: string }>;
  outputVariables?: Array<{ name: string; description?: string }>;
  messages?: Record<string, string>;
  [key: string]: unknown;
}

export interface CheckContext {
  schema: (json: unknown) => boolean;
  catalog: Record<string, string>;
}

export interface TaskCheck {
  rule: string;
  check(task: { folder: string; json: TaskJson }, context: CheckContext): string[];
}

export interface VisibleRulePredicate {
  input: string;
  condition: string;
  value: string;
}

export const defaultRoot: string;
export const TASK_CHECKS: readonly TaskCheck[];
export const TASK_CONTRIBUTION: string;
export function taskFolders(root?: string): string[];
export function loadTasks(root?: string): LoadedTask[];
export function createContext(root?: string): CheckContext;
export function parseVisibleRule(rule: string): { predicates: VisibleRulePredicate[]; error?: undefined } | { error: string; predicates?: undefined };
export function checkTask(task: LoadedTask | { folder: string; json: TaskJson; error?: null }, context: CheckContext): string[];
export function checkTaskSet(tasks: Array<{ folder: string; json: TaskJson | null }>): string[];
export function packagedTaskPath(folder: string): string;
export function taskContributions(manifest: { contributions?: Array<{ id: string; type: string; properties?: { name?: string } }> }): Array<{ id: string; name: string | undefined }>;
export function checkExtension(root?: string, tasks?: LoadedTask[]): string[];
export function validateAll(root?: string): string[];
