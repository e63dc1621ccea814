#!/usr/bin/env node
// Checks every tasks/<Task>V<n>/task.json and vss-extension.json against the official task.json
// schema and our conventions (DESIGN.md §3). `tfx extension create` only warns about a broken
// task.json, so scripts/package.mjs runs these checks first and test/unit/task-json.test.ts runs
// each one as its own test case. Usage: node scripts/validate-tasks.mjs (exit 1 on any problem).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv-draft-04';

export const defaultRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TASK_NAME = /^[A-Za-z0-9-]+$/;
const TASK_FOLDER = /^[A-Za-z0-9-]+V(\d+)$/;
const HANDLERS = ['Node20_1', 'Node24'];
/** Conditions the task editor understands in a visibleRule predicate (`input <condition> value`). */
const CONDITIONS = ['==', '=', '!=', '<=', '>=', '<', '>', 'NotContains', 'NotStartsWith', 'NotEndsWith', 'Contains', 'StartsWith', 'EndsWith'];
const CHOICE_TYPES = ['pickList', 'radio'];

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** The task folders under tasks/ (named <Name>V<major>), sorted. */
export function taskFolders(root = defaultRoot) {
  return readdirSync(join(root, 'tasks'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && TASK_FOLDER.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}

/** Every task as { folder, file, json, error }: json is null and error set when it does not parse. */
export function loadTasks(root = defaultRoot) {
  return taskFolders(root).map((folder) => {
    const file = join(root, 'tasks', folder, 'task.json');
    try {
      return { folder, file, json: readJson(file), error: null };
    } catch (error) {
      return { folder, file, json: null, error: `${file} cannot be read as JSON: ${error.message}` };
    }
  });
}

/** What the checks need besides the task: the compiled schema and the message catalog. */
export function createContext(root = defaultRoot) {
  // The official schema is draft-04 and uses regular expressions that are not valid in unicode mode.
  const ajv = new Ajv({ allErrors: true, unicodeRegExp: false, allowUnionTypes: true });
  const schema = ajv.compile(readJson(join(root, 'test', 'fixtures', 'tasks.schema.json')));
  const catalog = readJson(join(root, 'tasks', 'common', 'messages.json'));
  return { schema, catalog };
}

function schemaErrors(validate, json) {
  if (validate(json)) return [];
  return validate.errors.map((error) => {
    const extra = error.params?.additionalProperty ? ` ('${error.params.additionalProperty}')` : '';
    return `${error.instancePath || '/'} ${error.message}${extra}`;
  });
}

/** Splits a visibleRule into predicates; all joined by && or all by || (the editor mixes neither). */
export function parseVisibleRule(rule) {
  const joiners = ['&&', '||'].filter((joiner) => rule.includes(joiner));
  if (joiners.length > 1) return { error: `mixes && and ||, which the task editor does not support` };
  const parts = joiners.length ? rule.split(joiners[0]) : [rule];
  const predicates = [];
  for (const part of parts) {
    const match = /^\s*([A-Za-z0-9_.]+)\s*(==|=|!=|<=|>=|<|>|\s(?:Not)?(?:Contains|StartsWith|EndsWith)\s)\s*(.*?)\s*$/.exec(part);
    if (!match || !CONDITIONS.includes(match[2].trim())) {
      return { error: `predicate '${part.trim()}' is not '<input> <condition> <value>' with a condition from ${CONDITIONS.join(' ')}` };
    }
    predicates.push({ input: match[1], condition: match[2].trim(), value: match[3] });
  }
  return { predicates };
}

function inputsByName(json) {
  return new Map((json.inputs ?? []).map((input) => [input.name, input]));
}

/** The values a choice input can take, or null when it takes free text. */
function possibleValues(input) {
  if (input.type === 'boolean') return ['true', 'false'];
  if (!CHOICE_TYPES.includes(input.type) || !input.options) return null;
  if (String(input.properties?.EditableOptions).toLowerCase() === 'true') return null;
  return Object.keys(input.options);
}

function visibleRuleProblems(input, inputs) {
  const parsed = parseVisibleRule(input.visibleRule);
  if (parsed.error) return [`input '${input.name}': visibleRule '${input.visibleRule}' ${parsed.error}`];
  const problems = [];
  for (const { input: name, condition, value } of parsed.predicates) {
    const target = inputs.get(name);
    if (!target) {
      problems.push(`input '${input.name}': visibleRule '${input.visibleRule}' refers to undeclared input '${name}'`);
      continue;
    }
    const values = possibleValues(target);
    if (values && ['=', '==', '!='].includes(condition) && !values.some((v) => v.toLowerCase() === value.toLowerCase())) {
      problems.push(`input '${input.name}': visibleRule '${input.visibleRule}' compares '${name}' with '${value}', which is not one of ${values.join(', ')}`);
    }
  }
  return problems;
}

/**
 * One entry per convention, each returning a list of problems (empty when the task passes).
 * `task` is { folder, json }; `context` comes from createContext().
 */
export const TASK_CHECKS = [
  {
    rule: 'is valid against the official task.json schema',
    check: ({ json }, { schema }) => schemaErrors(schema, json),
  },
  {
    rule: `has a name matching ${TASK_NAME}`,
    check: ({ json }) => (typeof json.name === 'string' && TASK_NAME.test(json.name) ? [] : [`name '${json.name}' does not match ${TASK_NAME}`]),
  },
  {
    rule: 'has a friendlyName of at most 40 characters',
    check: ({ json }) => {
      const name = json.friendlyName;
      if (typeof name !== 'string' || name.length === 0) return ['friendlyName is missing'];
      return name.length <= 40 ? [] : [`friendlyName '${name}' has ${name.length} characters; at most 40 are shown`];
    },
  },
  {
    rule: 'has a GUID id',
    check: ({ json }) => (typeof json.id === 'string' && GUID.test(json.id) ? [] : [`id '${json.id}' is not a GUID`]),
  },
  {
    rule: 'has a category',
    check: ({ json }) => (typeof json.category === 'string' && json.category.length > 0 ? [] : ['category is missing']),
  },
  {
    rule: 'has an instanceNameFormat whose $(variables) are declared inputs',
    check: ({ json }) => {
      const format = json.instanceNameFormat;
      if (typeof format !== 'string' || format.trim().length === 0) return ['instanceNameFormat is missing'];
      const inputs = inputsByName(json);
      return [...format.matchAll(/\$\(([^)]+)\)/g)]
        .map((match) => match[1])
        .filter((name) => !inputs.has(name))
        .map((name) => `instanceNameFormat refers to undeclared input '${name}'`);
    },
  },
  {
    rule: 'declares each input once, each with helpMarkDown',
    check: ({ json }) => {
      const seen = new Set();
      const problems = [];
      for (const input of json.inputs ?? []) {
        if (seen.has(input.name)) problems.push(`input '${input.name}' is declared twice`);
        seen.add(input.name);
        if (typeof input.helpMarkDown !== 'string' || input.helpMarkDown.trim().length === 0) {
          problems.push(`input '${input.name}' has no helpMarkDown`);
        }
      }
      return problems;
    },
  },
  {
    rule: 'puts inputs only in declared groups',
    check: ({ json }) => {
      const groups = new Set((json.groups ?? []).map((group) => group.name));
      return (json.inputs ?? [])
        .filter((input) => input.groupName !== undefined && !groups.has(input.groupName))
        .map((input) => `input '${input.name}' is in group '${input.groupName}', which is not declared in "groups"`);
    },
  },
  {
    rule: 'has visibleRules that refer to declared inputs and use valid conditions',
    check: ({ json }) => {
      const inputs = inputsByName(json);
      const problems = (json.inputs ?? []).filter((input) => input.visibleRule !== undefined).flatMap((input) => visibleRuleProblems(input, inputs));
      for (const group of json.groups ?? []) {
        if (group.visibleRule !== undefined) problems.push(...visibleRuleProblems({ ...group, name: `group ${group.name}` }, inputs));
      }
      return problems;
    },
  },
  {
    rule: 'has pickList and radio defaults among their options',
    check: ({ json }) =>
      (json.inputs ?? [])
        .filter((input) => CHOICE_TYPES.includes(input.type) && input.options && input.defaultValue)
        .filter((input) => !String(input.defaultValue).includes('$('))
        .filter((input) => !Object.hasOwn(input.options, input.defaultValue))
        .map((input) => `input '${input.name}' defaults to '${input.defaultValue}', which is not one of its options ${Object.keys(input.options).join(', ')}`),
  },
  {
    rule: 'has dataSourceBindings that refer to declared inputs',
    check: ({ json }) => {
      const inputs = inputsByName(json);
      const problems = [];
      for (const binding of json.dataSourceBindings ?? []) {
        if (binding.target && !inputs.has(binding.target)) problems.push(`dataSourceBinding targets undeclared input '${binding.target}'`);
        for (const match of JSON.stringify(binding).matchAll(/\$\(([A-Za-z0-9_]+)\)/g)) {
          if (!inputs.has(match[1])) problems.push(`dataSourceBinding for '${binding.target}' refers to undeclared input '${match[1]}'`);
        }
      }
      return problems;
    },
  },
  {
    rule: `runs with exactly the ${HANDLERS.join(' and ')} handlers on index.js`,
    check: ({ json }) => {
      const execution = json.execution ?? {};
      const handlers = Object.keys(execution).sort();
      const problems = [];
      if (handlers.join() !== HANDLERS.join()) problems.push(`execution has handlers [${handlers.join(', ')}]; expected exactly [${HANDLERS.join(', ')}]`);
      for (const handler of handlers) {
        if (execution[handler]?.target !== 'index.js') problems.push(`execution.${handler}.target is '${execution[handler]?.target}'; expected 'index.js'`);
      }
      for (const other of ['prejobexecution', 'postjobexecution']) {
        if (json[other]) problems.push(`${other} is declared; this project's tasks run only in "execution"`);
      }
      return problems;
    },
  },
  {
    rule: 'declares its outputVariables, each with a description',
    check: ({ json }) => {
      const outputs = json.outputVariables;
      if (!Array.isArray(outputs) || outputs.length === 0) return ['outputVariables is missing or empty'];
      return outputs
        .filter((output) => typeof output.description !== 'string' || output.description.trim().length === 0)
        .map((output) => `output variable '${output.name}' has no description`);
    },
  },
  {
    rule: 'has messages equal to tasks/common/messages.json',
    check: ({ json }, { catalog }) => {
      const messages = json.messages ?? {};
      const missing = Object.keys(catalog).filter((key) => messages[key] !== catalog[key]);
      const extra = Object.keys(messages).filter((key) => !Object.hasOwn(catalog, key));
      if (missing.length === 0 && extra.length === 0) return [];
      const list = (keys) => (keys.length > 5 ? `${keys.slice(0, 5).join(', ')} and ${keys.length - 5} more` : keys.join(', '));
      const detail = [missing.length ? `missing or different: ${list(missing)}` : '', extra.length ? `not in the catalog: ${list(extra)}` : '']
        .filter(Boolean)
        .join('; ');
      return [`"messages" is out of date (${detail}). Run \`npm run build\`: it copies tasks/common/messages.json into every task.json`];
    },
  },
  {
    rule: 'has version.Major equal to its folder suffix',
    check: ({ folder, json }) => {
      const major = Number(TASK_FOLDER.exec(folder)?.[1]);
      return json.version?.Major === major ? [] : [`version.Major is ${JSON.stringify(json.version?.Major)} but the folder is ${folder}; expected ${major}`];
    },
  },
];

/** Problems of one task, each as "<rule>: <problem>". */
export function checkTask(task, context) {
  if (task.error) return [task.error];
  return TASK_CHECKS.flatMap(({ rule, check }) => check(task, context).map((problem) => `${rule}: ${problem}`));
}

/** Problems across tasks: ids and names must be unique. */
export function checkTaskSet(tasks) {
  const problems = [];
  for (const key of ['id', 'name']) {
    const owners = new Map();
    for (const { folder, json } of tasks) {
      if (!json) continue;
      const value = String(json[key]).toLowerCase();
      if (owners.has(value)) problems.push(`${folder} and ${owners.get(value)} share the task ${key} '${json[key]}'`);
      else owners.set(value, folder);
    }
  }
  return problems;
}

export const TASK_CONTRIBUTION = 'ms.vss-distributed-task.task';

/** Where a task's bundle is built, and so where it sits in the .vsix (see vss-extension.json). */
export function packagedTaskPath(folder) {
  return `dist/tasks/${folder}`;
}

/** The task contributions of a manifest, as { id, name }. */
export function taskContributions(manifest) {
  return (manifest.contributions ?? [])
    .filter((contribution) => contribution.type === TASK_CONTRIBUTION)
    .map((contribution) => ({ id: contribution.id, name: contribution.properties?.name }));
}

/**
 * vss-extension.json contributes exactly the task folders that exist under tasks/, one
 * contribution each, targeting the task list, with its bundle folder in "files".
 */
export function checkExtension(root = defaultRoot, tasks = loadTasks(root)) {
  const file = join(root, 'vss-extension.json');
  let manifest;
  try {
    manifest = readJson(file);
  } catch (error) {
    return [`${file} cannot be read as JSON: ${error.message}`];
  }
  const problems = [];
  // tfx refuses these at package time; catching them here makes the unit tests say so first.
  if ((manifest.description ?? '').length >= 200) problems.push(`"description" has ${manifest.description.length} characters; the Marketplace allows fewer than 200`);
  const contributions = taskContributions(manifest);
  const expected = tasks.map((task) => packagedTaskPath(task.folder));
  const named = contributions.map((contribution) => contribution.name);
  for (const name of expected.filter((path) => !named.includes(path))) problems.push(`no task contribution with properties.name '${name}'`);
  for (const name of named.filter((path) => !expected.includes(path))) problems.push(`task contribution '${name}' names no folder under tasks/`);
  for (const name of named.filter((path, index) => named.indexOf(path) !== index)) problems.push(`two task contributions name '${name}'`);
  const ids = (manifest.contributions ?? []).map((contribution) => contribution.id);
  for (const id of ids.filter((value, index) => ids.indexOf(value) !== index)) problems.push(`contribution id '${id}' is used twice`);
  for (const contribution of manifest.contributions ?? []) {
    if (contribution.type === TASK_CONTRIBUTION && !(contribution.targets ?? []).includes('ms.vss-distributed-task.tasks')) {
      problems.push(`task contribution '${contribution.id}' does not target ms.vss-distributed-task.tasks`);
    }
  }
  const files = (manifest.files ?? []).map((entry) => entry.path);
  for (const path of expected.filter((p) => !files.includes(p))) problems.push(`"files" does not include '${path}'`);
  for (const entry of manifest.files ?? []) {
    if (entry.packagePath || entry.partName) problems.push(`"files" entry '${entry.path}' is renamed in the package; keep package paths equal to disk paths so tfx validates the bundled task.json`);
    if (!existsSync(join(root, entry.path)) && !entry.path.startsWith('dist/')) problems.push(`"files" entry '${entry.path}' does not exist`);
  }
  return problems;
}

/** Every problem of every task and of the manifest, each prefixed with where it is. */
export function validateAll(root = defaultRoot) {
  const tasks = loadTasks(root);
  const context = createContext(root);
  return [
    ...tasks.flatMap((task) => checkTask(task, context).map((problem) => `tasks/${task.folder}/task.json: ${problem}`)),
    ...checkTaskSet(tasks).map((problem) => `tasks: ${problem}`),
    ...checkExtension(root, tasks).map((problem) => `vss-extension.json: ${problem}`),
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = validateAll();
  for (const problem of problems) console.error(`validate-tasks: ${problem}`);
  if (problems.length > 0) process.exit(1);
  console.log(`validate-tasks: ${taskFolders().length} task(s) and vss-extension.json are valid`);
}
