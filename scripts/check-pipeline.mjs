#!/usr/bin/env node
// Checks an Azure Pipelines YAML file against this repository's task.json files, the way a pipeline
// author would wish the editor did: every input of FetchLatestModel, BakeModelIntoImage and
// DeployAiAppToAks exists (by name or alias), every required input that its visibleRule shows is
// given, choices are valid, every $(step.output) and outputs['step.output'] names a step that is
// there and an output variable that task declares, and schedules are valid 5-field crons.
// test/unit/sample-pipeline.test.ts runs it on samples/azure-pipelines.yml, and
// scripts/render-task-forms.mjs reads the sample's inputs through it.
// Usage: node scripts/check-pipeline.mjs [file.yml ...]   (exit 1 on any problem)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import yaml from 'js-yaml';
import { defaultRoot, loadTasks, parseVisibleRule } from './validate-tasks.mjs';

/** Variable namespaces the agent predefines ($(Build.BuildId), $(Agent.TempDirectory), ...). */
const PREDEFINED = new Set(['agent', 'build', 'checks', 'common', 'environment', 'pipeline', 'release', 'resources', 'strategy', 'system', 'task', 'tf']);
const MACRO = /\$\(([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)\)/g;
const DEPENDENCY = /\b(stageDependencies|dependencies)\.([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?\.outputs\[\s*['"]([^'"]+)['"]\s*\]/g;

/** This repository's tasks by name: their task.json and major version. */
export function loadOurTasks(root = defaultRoot) {
  const tasks = new Map();
  for (const { json } of loadTasks(root)) if (json?.name) tasks.set(json.name, { json, major: json.version?.Major });
  return tasks;
}

export function loadPipeline(file) {
  return yaml.load(readFileSync(file, 'utf8'));
}

const list = (value) => (value === undefined || value === null ? [] : Array.isArray(value) ? value : [value]);
const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

/** Step lists of a deployment job's strategy: each lifecycle hook runs as a job of its own. */
function hookScopes(strategy) {
  const scopes = [];
  const visit = (node) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node.steps)) scopes.push(node.steps);
    for (const [key, value] of Object.entries(node)) if (key !== 'steps') visit(value);
  };
  visit(strategy);
  return scopes;
}

function normalizeJob(node, index) {
  const deployment = node.deployment !== undefined;
  const name = String(node.deployment ?? node.job ?? `job${index + 1}`);
  const scopes = deployment ? hookScopes(node.strategy) : [node.steps ?? []];
  return { name, deployment, node, dependsOn: list(node.dependsOn).map(String), scopes };
}

/** Stages, jobs and step scopes of a pipeline, with implicit stage, job and dependsOn filled in. */
export function pipelineStages(doc) {
  const stageNodes = doc.stages ?? [{ stage: '__default', jobs: doc.jobs ?? [{ job: '__default', steps: doc.steps ?? [] }] }];
  return stageNodes.map((node, index) => ({
    name: String(node.stage),
    node,
    dependsOn: node.dependsOn === undefined ? (index > 0 ? [String(stageNodes[index - 1].stage)] : []) : list(node.dependsOn).map(String),
    jobs: (node.jobs ?? []).map(normalizeJob),
  }));
}

/** Every `task: Name@N` step of our tasks, with where it is. */
export function taskSteps(doc, tasks = loadOurTasks()) {
  const found = [];
  for (const stage of pipelineStages(doc)) for (const job of stage.jobs) for (const steps of job.scopes) for (const step of steps) {
    const match = /^([A-Za-z0-9-]+)@(\d+)$/.exec(String(step?.task ?? ''));
    if (match && tasks.has(match[1])) found.push({ stage, job, step, name: match[1], major: Number(match[2]), task: tasks.get(match[1]) });
  }
  return found;
}

/** The step's inputs under their declared names (aliases resolved), as strings. */
export function givenInputs(taskJson, inputs = {}) {
  const given = new Map();
  for (const [key, value] of Object.entries(inputs ?? {})) {
    const input = taskJson.inputs.find((i) => i.name === key || (i.aliases ?? []).includes(key));
    given.set(input ? input.name : key, value === null ? '' : String(value));
  }
  return given;
}

/** Given values over defaults, for every declared input. */
export function inputValues(taskJson, given) {
  return new Map(taskJson.inputs.map((input) => [input.name, given.has(input.name) ? given.get(input.name) : String(input.defaultValue ?? '')]));
}

function predicateHolds({ input, condition, value }, values) {
  const actual = String(values.get(input) ?? '').toLowerCase();
  const expected = value.replace(/^"(.*)"$/, '$1').toLowerCase();
  switch (condition) {
    case '=': case '==': return actual === expected;
    case '!=': return actual !== expected;
    case 'Contains': return actual.includes(expected);
    case 'NotContains': return !actual.includes(expected);
    case 'StartsWith': return actual.startsWith(expected);
    case 'NotStartsWith': return !actual.startsWith(expected);
    case 'EndsWith': return actual.endsWith(expected);
    case 'NotEndsWith': return !actual.endsWith(expected);
    default: {
      const [a, b] = [Number(actual), Number(expected)];
      if (Number.isNaN(a) || Number.isNaN(b)) return null;
      return { '<': a < b, '<=': a <= b, '>': a > b, '>=': a >= b }[condition] ?? null;
    }
  }
}

/** Whether a visibleRule shows its input for these values; null when the rule is not understood. */
export function ruleHolds(rule, values) {
  if (!rule) return true;
  const parsed = parseVisibleRule(rule);
  if (parsed.error) return null;
  const results = parsed.predicates.map((p) => predicateHolds(p, values));
  if (results.includes(null)) return null;
  return rule.includes('||') ? results.some(Boolean) : results.every(Boolean);
}

/** Whether the designer shows this input: its own visibleRule and its group's. */
export function isVisible(taskJson, input, values) {
  const group = (taskJson.groups ?? []).find((g) => g.name === input.groupName);
  const own = ruleHolds(input.visibleRule, values);
  const inGroup = ruleHolds(group?.visibleRule, values);
  if (own === null || inGroup === null) return null;
  return own && inGroup;
}

function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

const closest = (name, names) => names.find((n) => same(n, name)) ?? names.find((n) => distance(n.toLowerCase(), name.toLowerCase()) <= 2);
const hint = (name, names) => { const c = closest(name, names); return c ? ` (did you mean '${c}'?)` : ''; };

function inputProblems(where, { name, major, task, step }) {
  const json = task.json;
  const problems = [];
  if (major !== task.major) problems.push(`${where}: ${name}@${major}, but tasks/${name}V${task.major} is version ${task.major}`);
  const names = json.inputs.flatMap((i) => [i.name, ...(i.aliases ?? [])]);
  for (const key of Object.keys(step.inputs ?? {})) {
    if (!names.includes(key)) problems.push(`${where}: input '${key}' is not an input of ${name}${hint(key, names)}`);
  }
  const given = givenInputs(json, step.inputs);
  const values = inputValues(json, given);
  for (const input of json.inputs) {
    const visible = isVisible(json, input, values);
    const value = given.get(input.name);
    if (value !== undefined && value.includes('$[')) problems.push(`${where}: input '${input.name}' holds a runtime expression $[ ]; those work only in variables and conditions (map it to a variable, then use $(name))`);
    if (visible === false && value !== undefined) problems.push(`${where}: input '${input.name}' is set but its visibleRule '${input.visibleRule ?? ''}' hides it for these values, so it has no effect`);
    if (visible === true && input.required && !String(input.defaultValue ?? '') && !value) problems.push(`${where}: required input '${input.name}' is missing`);
    if (value === undefined || value.includes('$(')) continue;
    const choices = input.type === 'boolean' ? ['true', 'false'] : input.type === 'pickList' && !same(input.properties?.EditableOptions ?? '', 'true') ? Object.keys(input.options ?? {}) : null;
    if (choices && !choices.includes(value)) problems.push(`${where}: input '${input.name}' is '${value}', not one of ${choices.join(', ')}${hint(value, choices)}`);
    if (input.type === 'int' && !/^-?\d+$/.test(value)) problems.push(`${where}: input '${input.name}' is '${value}', not a whole number`);
  }
  return problems;
}

/** Every string in a YAML node, recursively. */
function strings(node) {
  if (typeof node === 'string') return [node];
  if (!node || typeof node !== 'object') return [];
  return Object.values(node).flatMap(strings);
}

function declaredVariables(doc) {
  const names = new Set();
  const visit = (node) => {
    if (!node || typeof node !== 'object') return;
    const vars = node.variables;
    if (Array.isArray(vars)) for (const v of vars) { if (v?.name) names.add(String(v.name).toLowerCase()); }
    else if (vars && typeof vars === 'object') for (const key of Object.keys(vars)) names.add(key.toLowerCase());
    for (const value of Object.values(node)) visit(value);
  };
  visit(doc);
  return names;
}

/** Checks that `step.output` names a step among `steps` and, for our tasks, a declared output. */
function outputProblem(text, stepName, output, steps, tasks) {
  const step = steps.find((s) => s?.name && same(s.name, stepName));
  if (!step) return `${text} names no step '${stepName}' there${hint(stepName, steps.filter((s) => s?.name).map((s) => String(s.name)))}`;
  const task = tasks.get(String(step.task ?? '').split('@')[0]);
  if (!task) return null;
  const outputs = (task.json.outputVariables ?? []).map((o) => o.name);
  if (outputs.includes(output)) return null;
  return `${text}: ${task.json.name} declares no output variable '${output}'${hint(output, outputs)}`;
}

function macroProblems(where, text, earlier, all, tasks, declared) {
  const problems = [];
  for (const [macro, prefix, output] of text.matchAll(MACRO)) {
    if (PREDEFINED.has(prefix.toLowerCase()) || declared.has(`${prefix}.${output}`.toLowerCase())) continue;
    const pool = earlier ?? all;
    if (earlier && !earlier.some((s) => s?.name && same(s.name, prefix)) && all.some((s) => s?.name && same(s.name, prefix))) {
      problems.push(`${where}: ${macro} names step '${prefix}', which does not run before it in the same job (across jobs use dependencies/stageDependencies)`);
      continue;
    }
    const problem = outputProblem(macro, prefix, output, pool, tasks);
    if (problem) problems.push(`${where}: ${problem}`);
  }
  return problems;
}

function dependencyProblems(where, text, context, stages, tasks) {
  const problems = [];
  for (const [expression, kind, first, second, key] of text.matchAll(DEPENDENCY)) {
    const crossStage = kind === 'stageDependencies' || context.level === 'stage';
    const stageName = crossStage ? first : context.stage.name;
    const jobName = kind === 'stageDependencies' ? second : context.level === 'stage' ? key.split('.')[0] : first;
    const parts = key.split('.');
    const stepKey = context.level === 'stage' && kind === 'dependencies' ? parts.slice(1) : parts;
    const stage = stages.find((s) => s.name === stageName);
    if (crossStage && (!stage || !context.stage.dependsOn.includes(stageName))) {
      problems.push(`${where}: ${expression} names stage '${stageName}', which this stage does not depend on${hint(stageName, context.stage.dependsOn)}`);
      continue;
    }
    const job = stage.jobs.find((j) => j.name === jobName);
    if (!job) { problems.push(`${where}: ${expression} names no job '${jobName}' in stage '${stageName}'${hint(jobName ?? '', stage.jobs.map((j) => j.name))}`); continue; }
    if (!crossStage && !(context.job?.dependsOn ?? []).includes(jobName)) problems.push(`${where}: ${expression} names job '${jobName}', which this job does not depend on`);
    const expected = job.deployment ? 3 : 2;
    if (stepKey.length !== expected || (job.deployment && stepKey[0] !== job.name)) {
      const shape = job.deployment ? `'${job.name}.<step>.<output>' (a runOnce deployment job)` : `'<step>.<output>' (a regular job)`;
      problems.push(`${where}: ${expression}: outputs of job '${job.name}' are keyed ${shape}`);
      continue;
    }
    const problem = outputProblem(expression, stepKey[expected - 2], stepKey[expected - 1], job.scopes.flat(), tasks);
    if (problem) problems.push(`${where}: ${problem}`);
  }
  return problems;
}

const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 6, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** Problems with a cron expression as Azure Pipelines schedules take it (5 fields, UTC). */
export function cronProblems(cron) {
  const fields = String(cron).trim().split(/\s+/);
  if (fields.length !== 5) return [`cron '${cron}' has ${fields.length} fields, not 5 (minute hour day month weekday)`];
  const problems = [];
  fields.forEach((field, index) => {
    const spec = CRON_FIELDS[index];
    const number = (text) => {
      const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
      const value = named >= 0 ? named + spec.min : /^\d+$/.test(text) ? Number(text) : NaN;
      return value >= spec.min && value <= spec.max ? value : NaN;
    };
    for (const item of field.split(',')) {
      const match = /^(\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:\/(\d+))?$/.exec(item);
      const [from, to] = match && match[1] !== '*' ? [number(match[2]), match[3] === undefined ? number(match[2]) : number(match[3])] : [spec.min, spec.max];
      if (!match || Number.isNaN(from) || Number.isNaN(to) || from > to || (match[4] !== undefined && Number(match[4]) < 1)) {
        problems.push(`cron '${cron}': '${item}' is not a valid ${spec.name} (${spec.min}-${spec.max})`);
      }
    }
  });
  return problems;
}

/** Every problem the checks find in a parsed pipeline; an empty list when there are none. */
export function checkPipeline(doc, tasks = loadOurTasks()) {
  const problems = [];
  const stages = pipelineStages(doc);
  const declared = declaredVariables(doc);
  const allSteps = stages.flatMap((s) => s.jobs.flatMap((j) => j.scopes.flat()));
  for (const schedule of list(doc.schedules)) problems.push(...cronProblems(schedule.cron ?? '').map((p) => `schedules: ${p}`));
  const ours = [...tasks.keys()];
  for (const stage of stages) {
    const { jobs, ...stageOnly } = stage.node;
    for (const text of strings(stageOnly)) {
      problems.push(...macroProblems(`stage ${stage.name}`, text, null, allSteps, tasks, declared));
      problems.push(...dependencyProblems(`stage ${stage.name}`, text, { level: 'stage', stage }, stages, tasks));
    }
    for (const job of stage.jobs) {
      const { steps, strategy, ...jobOnly } = job.node;
      for (const text of strings(jobOnly)) {
        problems.push(...macroProblems(`${stage.name}/${job.name}`, text, null, allSteps, tasks, declared));
        problems.push(...dependencyProblems(`${stage.name}/${job.name}`, text, { level: 'job', stage, job }, stages, tasks));
      }
      for (const scope of job.scopes) scope.forEach((step, index) => {
        const where = `${stage.name}/${job.name}/${step?.name ?? `step ${index + 1}`}`;
        const taskName = String(step?.task ?? '').split('@')[0];
        if (taskName && !tasks.has(taskName) && closest(taskName, ours)) problems.push(`${where}: task '${step.task}' is none of this extension's tasks${hint(taskName, ours)}`);
        for (const text of strings(step)) problems.push(...macroProblems(where, text, scope.slice(0, index), allSteps, tasks, declared));
      });
    }
  }
  for (const found of taskSteps(doc, tasks)) {
    problems.push(...inputProblems(`${found.stage.name}/${found.job.name}/${found.step.name ?? found.name}`, found));
  }
  return problems;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = process.argv.length > 2 ? process.argv.slice(2) : [join(defaultRoot, 'samples', 'azure-pipelines.yml')];
  let failed = false;
  for (const file of files) {
    const problems = checkPipeline(loadPipeline(file));
    for (const problem of problems) console.error(`${file}: ${problem}`);
    if (problems.length === 0) console.log(`${file}: no problems`);
    failed ||= problems.length > 0;
  }
  process.exit(failed ? 1 : 0);
}
