/**
 * Runs a bundled task (dist/tasks/<Task>V1/index.js) the way the Azure Pipelines agent does: a
 * child process with a clean environment of INPUT_*, ENDPOINT_*, SECRET_* and variable entries,
 * whose `##vso[...]` output lines are the task's only channel back. The conventions mirror the
 * agent's handler and azure-pipelines-task-lib's internal.js (_loadData) and taskcommand.js.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface EndpointSpec {
  url?: string;
  scheme: string;
  parameters?: Record<string, string>;
  data?: Record<string, string>;
}

export interface RunTaskOptions {
  /** The folder holding index.js and task.json, e.g. dist/tasks/FetchLatestModelV1. */
  taskDir: string;
  /** Keyed by the input name in task.json. */
  inputs: Record<string, string>;
  /** Keyed by endpoint id: the value a connectedService input carries. */
  endpoints?: Record<string, EndpointSpec>;
  /** Pipeline variables by their dotted name, e.g. 'System.Debug'; they override the defaults. */
  variables?: Record<string, string>;
  secretVariables?: Record<string, string>;
  /** Default: the node running the tests. */
  nodePath?: string;
  /** Extra environment, e.g. NODE_EXTRA_CA_CERTS; otherwise only PATH, HOME and TMPDIR pass through. */
  env?: Record<string, string>;
  /** Default 100 s, under mocha's timeout so a hung task fails with a message. */
  timeoutMs?: number;
  /** Keep the agent-like folders (temp, work) after the run; call run.cleanup() when done. */
  keepFolders?: boolean;
  /** Each complete stdout line as it arrives, with performance.now() at its arrival (for latency benchmarks). */
  onLine?: (line: string, atMs: number) => void;
  /** Sends the task a signal (SIGTERM by default, as the agent cancels) when a stdout line matches: a cancel at that stage. */
  cancelWhen?: { readonly line: RegExp; readonly signal?: NodeJS.Signals };
}

export interface VsoCommand {
  command: string;
  properties: Record<string, string>;
  message: string;
}

export type TaskStatus = 'Succeeded' | 'SucceededWithIssues' | 'Failed' | 'Cancelled' | 'Skipped';

export interface TaskRun {
  exitCode: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** From spawn to the first complete stdout line; undefined if none. */
  firstLineMs: number | undefined;
  commands: VsoCommand[];
  /** task.setvariable with isOutput=true. */
  outputs: Record<string, string>;
  /** Every task.setvariable, output or not. */
  variables: Record<string, string>;
  /** Worst task.complete result merged with the exit code, as the agent decides it. */
  result: { status: TaskStatus; message: string };
  secretsRegistered: string[];
  progress: number[];
  /** task.addattachment; content is read before the folders are removed. */
  attachments: Array<{ type: string; name: string; path: string; content: string | undefined }>;
  errors: string[];
  warnings: string[];
  folders: { root: string; temp: string; work: string };
  cleanup(): void;
}

/** The agent's VarUtil.ConvertToEnvVariableFormat, which task-lib's _getVariableKey mirrors. */
export function envName(name: string): string {
  return name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();
}

function defaultVariables(root: string, temp: string, work: string): Record<string, string> {
  return {
    'Agent.TempDirectory': temp,
    'Agent.WorkFolder': root,
    'Agent.BuildDirectory': root,
    'Agent.ToolsDirectory': path.join(root, '_tool'),
    'Agent.OS': 'Linux',
    'Agent.Name': 'e2e-agent',
    'Agent.Version': '4.260.0',
    'Agent.JobStatus': 'Succeeded',
    'System.DefaultWorkingDirectory': work,
    'System.Debug': 'true',
    'System.Culture': 'en-US',
    'System.HostType': 'build',
    'System.TeamProject': 'e2e',
    'System.TeamFoundationCollectionUri': 'https://dev.azure.com/e2e/',
    'Build.SourcesDirectory': work,
    'Build.ArtifactStagingDirectory': path.join(root, 'a'),
    'Build.BuildId': '1',
    'Build.BuildNumber': '20250101.1',
  };
}

/** The ENDPOINT_* variables the agent sets for one service connection. */
export function endpointEnv(id: string, endpoint: EndpointSpec): Record<string, string> {
  const parameters = endpoint.parameters ?? {};
  const env: Record<string, string> = {
    [`ENDPOINT_AUTH_${id}`]: JSON.stringify({ parameters, scheme: endpoint.scheme }),
    [`ENDPOINT_AUTH_SCHEME_${id}`]: endpoint.scheme,
  };
  if (endpoint.url !== undefined) env[`ENDPOINT_URL_${id}`] = endpoint.url;
  for (const [key, value] of Object.entries(parameters)) env[`ENDPOINT_AUTH_PARAMETER_${id}_${envName(key)}`] = value;
  if (endpoint.data) env[`ENDPOINT_DATA_${id}`] = JSON.stringify(endpoint.data);
  for (const [key, value] of Object.entries(endpoint.data ?? {})) env[`ENDPOINT_DATA_${id}_${envName(key)}`] = value;
  return env;
}

/** Variables keyed by env name so 'system.debug' overrides the default 'System.Debug'. */
function variableEnv(variables: Record<string, string>, secrets: Record<string, string>): Record<string, string> {
  const byKey = new Map<string, [string, string]>();
  for (const [name, value] of Object.entries(variables)) byKey.set(envName(name), [name, value]);
  const env: Record<string, string> = {};
  for (const [key, [, value]] of byKey) env[key] = value;
  for (const [name, value] of Object.entries(secrets)) env[`SECRET_${envName(name)}`] = value;
  env.VSTS_PUBLIC_VARIABLES = JSON.stringify([...byKey.values()].map(([name]) => name));
  env.VSTS_SECRET_VARIABLES = JSON.stringify(Object.keys(secrets));
  return env;
}

function buildEnv(options: RunTaskOptions, defaults: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR']) if (process.env[name]) env[name] = process.env[name] as string;
  Object.assign(env, options.env);
  for (const [name, value] of Object.entries(options.inputs)) env[`INPUT_${envName(name)}`] = value;
  for (const [id, endpoint] of Object.entries(options.endpoints ?? {})) Object.assign(env, endpointEnv(id, endpoint));
  Object.assign(env, variableEnv({ ...defaults, ...options.variables }, options.secretVariables ?? {}));
  return env;
}

// Exactly task-lib's unescape (properties) and unescapedata (message); '%' travels as %AZP25.
const unescapeProperty = (s: string) => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%5D/g, ']').replace(/%3B/g, ';').replace(/%AZP25/g, '%');
const unescapeMessage = (s: string) => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%AZP25/g, '%');

/** Parses a `##vso[area.action key=value;...]message` line; the agent finds the prefix anywhere in it. */
export function parseVsoCommand(line: string): VsoCommand | undefined {
  const start = line.indexOf('##vso[');
  const end = start < 0 ? -1 : line.indexOf(']', start);
  if (end < 0) return undefined;
  const head = line.slice(start + '##vso['.length, end).trim();
  const space = head.indexOf(' ');
  const properties: Record<string, string> = {};
  for (const pair of space < 0 ? [] : head.slice(space + 1).split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) properties[pair.slice(0, eq).trim()] = unescapeProperty(pair.slice(eq + 1).trim());
  }
  return { command: space < 0 ? head : head.slice(0, space), properties, message: unescapeMessage(line.slice(end + 1)) };
}

const SEVERITY: TaskStatus[] = ['Succeeded', 'SucceededWithIssues', 'Failed', 'Cancelled', 'Skipped'];

/** The agent's MergeTaskResults: a worse (or equal) result replaces the current one. */
function mergeResult(current: TaskRun['result'] | undefined, status: TaskStatus, message: string): TaskRun['result'] {
  if (!current || SEVERITY.indexOf(status) >= SEVERITY.indexOf(current.status)) return { status, message };
  return current;
}

function readIfPresent(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

type Findings = Pick<TaskRun, 'outputs' | 'variables' | 'secretsRegistered' | 'progress' | 'attachments' | 'errors' | 'warnings'> & {
  result?: TaskRun['result'];
};

function interpret(commands: VsoCommand[]): Findings {
  const found: Findings = { outputs: {}, variables: {}, secretsRegistered: [], progress: [], attachments: [], errors: [], warnings: [] };
  for (const { command, properties: p, message } of commands) {
    if (command === 'task.setvariable') {
      found.variables[p.variable] = message;
      if (p.isOutput?.toLowerCase() === 'true') found.outputs[p.variable] = message;
    } else if (command === 'task.setsecret') found.secretsRegistered.push(message);
    else if (command === 'task.setprogress') found.progress.push(Number(p.value));
    else if (command === 'task.addattachment') found.attachments.push({ type: p.type, name: p.name, path: message, content: readIfPresent(message) });
    else if (command === 'task.issue' || command === 'task.logissue') (p.type === 'error' ? found.errors : found.warnings).push(message);
    else if (command === 'task.complete') found.result = mergeResult(found.result, (p.result ?? 'Succeeded') as TaskStatus, message);
  }
  return found;
}

function finalResult(found: Findings, exitCode: number | null, timedOut: boolean, timeoutMs: number): TaskRun['result'] {
  if (timedOut) return mergeResult(found.result, 'Failed', `timed out after ${timeoutMs} ms`);
  if (exitCode !== 0) return mergeResult(found.result, 'Failed', `Exit code ${exitCode} returned from process`);
  return found.result ?? { status: 'Succeeded', message: '' };
}

function makeFolders(): TaskRun['folders'] {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'task-run-'));
  const folders = { root, temp: path.join(root, '_temp'), work: path.join(root, 's') };
  fs.mkdirSync(folders.temp);
  fs.mkdirSync(folders.work);
  return folders;
}

export async function runTask(options: RunTaskOptions): Promise<TaskRun> {
  const folders = makeFolders();
  const cleanup = () => fs.rmSync(folders.root, { recursive: true, force: true });
  const env = buildEnv(options, defaultVariables(folders.root, folders.temp, folders.work));
  const timeoutMs = options.timeoutMs ?? 100_000;
  const started = performance.now();
  // Its own process group, so a timeout also ends whatever the task started (kubectl, buildah...).
  const child = spawn(options.nodePath ?? process.execPath, [path.resolve(options.taskDir, 'index.js')], {
    cwd: folders.work, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  const killGroup = () => { try { process.kill(-(child.pid as number), 'SIGKILL'); } catch { /* already gone */ } };
  process.once('exit', killGroup);
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; killGroup(); }, timeoutMs);
  let stdout = '';
  let stderr = '';
  let firstLineMs: number | undefined;
  let partial = '';
  let cancelled = false;
  const onLine = (line: string, at: number) => {
    options.onLine?.(line, at);
    if (options.cancelWhen && !cancelled && options.cancelWhen.line.test(line)) {
      cancelled = true;
      child.kill(options.cancelWhen.signal ?? 'SIGTERM');
    }
  };
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    const at = performance.now();
    stdout += text;
    if (firstLineMs === undefined && text.includes('\n')) firstLineMs = at - started;
    if (!options.onLine && !options.cancelWhen) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line.replace(/\r$/, ''), at);
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  }).finally(() => {
    clearTimeout(timer);
    process.off('exit', killGroup);
  });
  const durationMs = performance.now() - started;
  const commands = stdout.split(/\r?\n/).map(parseVsoCommand).filter((c): c is VsoCommand => c !== undefined);
  const found = interpret(commands);
  if (!options.keepFolders) cleanup();
  return {
    ...found, exitCode, timedOut, stdout, stderr, durationMs, firstLineMs, commands, folders, cleanup,
    result: finalResult(found, exitCode, timedOut, timeoutMs),
  };
}

/** What the agent would show: stdout and stderr without the ##vso[task.setsecret] lines it consumes. */
export function visibleOutput(run: Pick<TaskRun, 'stdout' | 'stderr'>): string {
  return `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter((line) => !line.includes('##vso[task.setsecret]'))
    .join('\n');
}

/**
 * Throws if any secret shows in the visible output, as is or URL-encoded. Secrets are given by
 * label ({ 'storage key': value }) or as a list (labelled by position); messages never show values.
 */
export function assertNoSecrets(run: Pick<TaskRun, 'stdout' | 'stderr'>, secrets: Record<string, string> | string[]): void {
  const labelled = Array.isArray(secrets) ? secrets.map((value, i) => [`secret #${i + 1}`, value] as const) : Object.entries(secrets);
  const lines = visibleOutput(run).split('\n');
  const leaks: string[] = [];
  for (const [label, value] of labelled) {
    if (!value) continue;
    const forms = new Set([value, encodeURIComponent(value)]);
    const line = lines.findIndex((text) => [...forms].some((form) => text.includes(form)));
    if (line >= 0) leaks.push(`"${label}" (visible output line ${line + 1})`);
  }
  if (leaks.length > 0) throw new Error(`secrets leaked into the task output: ${leaks.join(', ')}`);
}
