// Generates each task's contract from its task.json: one typed module per task under
// tasks/common/contract/, holding the input names, pick-list values, defaults and output names.
// task.json is the one owner of the contract; the readers in pipeline/ and the core's defaults use
// these modules, so renaming an input is a compile error and a default is written once.
// `npm run build` runs it; a unit test fails when a module differs from its task.json.
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** FetchLatestModelV1 -> fetchLatestModel (the module), FetchLatestModel (the constants' prefix). */
function namesOf(taskFolder) {
  const base = taskFolder.replace(/V\d+$/, '');
  return { module: base[0].toLowerCase() + base.slice(1), prefix: base };
}

/** A default as the agent would hand it over, typed by the input's kind. */
function typedDefault(input) {
  const text = input.defaultValue;
  if (text === undefined || text === '' || /\$\(/.test(String(text))) return undefined;
  if (input.type === 'boolean') return String(text).toLowerCase() === 'true';
  if (input.type === 'int') return Number(text);
  return String(text);
}

function kindOf(type) {
  if (type.startsWith('connectedService:')) return 'connectedService';
  return type;
}

function inputEntry(input) {
  const entry = { name: input.name, kind: kindOf(input.type) };
  if (input.type === 'pickList' && input.options && Object.keys(input.options).length > 0) entry.options = Object.keys(input.options);
  const fallback = typedDefault(input);
  if (fallback !== undefined) entry.default = fallback;
  // A default that names a variable ($(Agent.TempDirectory)/model) is the agent's to expand: kept as text.
  if (input.defaultValue !== undefined && /\$\(/.test(String(input.defaultValue))) entry.agentDefault = String(input.defaultValue);
  if (input.required) entry.required = true;
  return entry;
}

/** A TypeScript literal in the repository's style: single quotes, spaces inside braces. */
function literal(value) {
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value !== 'object' || value === null) return String(value);
  return `{ ${Object.entries(value).map(([key, item]) => `${key}: ${literal(item)}`).join(', ')} }`;
}

export function contractSource(taskFolder, task) {
  const { prefix } = namesOf(taskFolder);
  const inputs = task.inputs.map((input) => `  ${input.name}: ${literal(inputEntry(input))},`);
  const outputs = (task.outputVariables ?? []).map((output) => `  ${output.name}: '${output.name}',`);
  return [
    `// Generated from tasks/${taskFolder}/task.json by scripts/contracts.mjs (npm run build). Do not edit:`,
    '// change task.json and rebuild.',
    '',
    `/** ${task.friendlyName} ${task.version.Major}.${task.version.Minor}.${task.version.Patch}: every input, with its pick-list values and default. */`,
    `export const ${prefix}Inputs = {`,
    ...inputs,
    '} as const;',
    '',
    `/** The task's name and version, as its provenance names the builder. */`,
    `export const ${prefix}Task = { name: '${task.name}', version: '${task.version.Major}.${task.version.Minor}.${task.version.Patch}' } as const;`,
    '',
    '/** The output variables, by name. */',
    `export const ${prefix}Outputs = {`,
    ...outputs,
    '} as const;',
    '',
  ].join('\n');
}

export function generateContracts(root) {
  const folder = join(root, 'tasks', 'common', 'contract');
  mkdirSync(folder, { recursive: true });
  const tasks = readdirSync(join(root, 'tasks')).filter((name) => /V\d+$/.test(name));
  const written = [];
  for (const taskFolder of tasks) {
    const task = JSON.parse(readFileSync(join(root, 'tasks', taskFolder, 'task.json'), 'utf8'));
    const file = join(folder, `${namesOf(taskFolder).module}.ts`);
    const next = contractSource(taskFolder, task);
    let current;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== next) {
      writeFileSync(file, next);
      written.push(file);
    }
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = join(new URL('.', import.meta.url).pathname, '..');
  for (const file of generateContracts(root)) console.log(`contracts: wrote ${file}`);
}
