/**
 * The one place that imports azure-pipelines-task-lib. Everything else in the repository sees the
 * agent through the small Agent interface below, so the core runs unchanged from a task, a test or
 * the demo.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import * as tl from 'azure-pipelines-task-lib/task';
import { TaskError } from '../errors';
import { InputError } from './inputError';
import { OwnedLifetime, type Lifetime } from '../lifetime';
import type { Log } from '../log';
import { type MessageKey, formatTemplate } from '../messages';
import { Network } from '../net/network';
import { explainFailure } from '../net/explain';
import { withoutQuery } from '../redact';
import { agentNetworkSettings } from './network';
import { neutralize, outputValueProblem, safeArgument, safeLines } from './output';
import { secretPartsOf } from './secrets';
import { type SettingInputs, type WithSettings, asInputError } from './settings';
import type { Endpoint } from '../endpoint';

export type { Endpoint } from '../endpoint';

export interface InputReader {
  /** The trimmed input, or undefined when empty. */
  input(name: string): string | undefined;
  /**
   * A filePath input, or undefined when the user left it empty: the agent fills an empty filePath
   * with the sources folder, which must never be mistaken for a choice.
   */
  pathInput(name: string): string | undefined;
}

export interface Agent extends InputReader {
  readonly log: Log;
  /** The agent's cancel, and the temporary paths to remove however the task ends. */
  readonly lifetime: Lifetime;
  /** The one network layer, with the agent's proxy and certificates; built on first use. */
  network(): Network;
  /** A catalog message in the agent's language. */
  loc(key: MessageKey, ...args: unknown[]): string;
  /** A secret input: never echoed by task-lib's debug output, registered (with its parts) as a secret. */
  secretInput(name: string): string | undefined;
  /** A URL input that may carry user info (https://key:secret@host): read without echo, its user info masked. */
  urlInput(name: string): string | undefined;
  variable(name: string): string | undefined;
  /** A variable that holds a credential: read without echo and registered as a secret. */
  secretVariable(name: string): string | undefined;
  endpoint(id: string): Endpoint | undefined;
  setSecret(value: string): void;
  setOutput(name: string, value: string): void;
  setProgress(percent: number, label: string): void;
  uploadSummary(title: string, markdown: string): void;
  /** Files matching minimatch patterns (with '!' exclusions), relative ones rooted at the sources folder. */
  findFiles(patterns: readonly string[]): string[];
}

/** task-lib echoes input and endpoint values into debug output; read secrets with that muted. */
function quietly<T>(read: () => T): T {
  tl.setStdStream(new Writable({ write: (_chunk, _encoding, done) => done() }));
  try {
    return read();
  } finally {
    tl.setStdStream(process.stdout);
  }
}

/** Each part once: the agent prints a command per registration, and a kubeconfig repeats its token. */
const registeredSecrets = new Set<string>();

function registerSecret(value: string | undefined): void {
  for (const part of secretPartsOf(value)) {
    if (registeredSecrets.has(part)) continue;
    registeredSecrets.add(part);
    tl.setSecret(part);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** Registers the user name and password a URL carries (https://user:secret@host) and returns the URL. */
function maskUserInfo(url: string | undefined): string | undefined {
  const match = url === undefined ? undefined : /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(url);
  if (match) {
    const [user, password] = match[1].split(':', 2);
    for (const part of [password, user, match[1]]) if (part) registerSecret(decodeSafely(part));
  }
  return url;
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function endpointOf(id: string): Endpoint | undefined {
  // task-lib echoes the URL into debug output: a connection URL may carry user info.
  const url = maskUserInfo(quietly(() => tl.getEndpointUrl(id, true)));
  const scheme = tl.getEndpointAuthorizationScheme(id, true);
  if (url === undefined && scheme === undefined) return undefined;
  return {
    id,
    url,
    scheme,
    authParameter: (key) => nonEmpty(quietly(() => tl.getEndpointAuthorizationParameter(id, key, true))),
    secretAuthParameter(key) {
      const value = quietly(() => tl.getEndpointAuthorizationParameter(id, key, true));
      registerSecret(value);
      return nonEmpty(value);
    },
    data: (key) => nonEmpty(tl.getEndpointDataParameter(id, key, true)),
  };
}

/** A catalog message with every argument through the output boundary. */
function render(key: MessageKey, args: readonly unknown[]): string {
  return safeLines(tl.loc(key, ...args.map(safeArgument)));
}

/** The only way the tasks write to the log: every line through the output boundary. */
const taskLibLog: Log = {
  info: (key: MessageKey, ...args: unknown[]) => console.log(render(key, args)),
  warn: (key: MessageKey, ...args: unknown[]) => tl.warning(render(key, args)),
  debug: (text: string) => tl.debug(text.split(/\r?\n/).map(neutralize).join('\n')),
};

function agentNetwork(): Network {
  // Both echo the proxy password and the certificate passphrase in debug lines: read them muted.
  const configuration = { proxy: quietly(() => tl.getHttpProxyConfiguration()), cert: quietly(() => tl.getHttpCertConfiguration()), env: process.env };
  return new Network(agentNetworkSettings(configuration, registerSecret));
}

export function taskLibAgent(taskDirectory: string, lifetime: Lifetime): Agent {
  tl.setResourcePath(path.join(taskDirectory, 'task.json'));
  let network: Network | undefined;
  return {
    log: taskLibLog,
    lifetime,
    network: () => (network ??= agentNetwork()),
    loc: (key, ...args) => render(key, args),
    input: (name) => nonEmpty(tl.getInput(name, false)),
    pathInput: (name) => (tl.filePathSupplied(name) ? nonEmpty(tl.getPathInput(name, false)) : undefined),
    secretInput(name) {
      const value = quietly(() => tl.getInput(name, false));
      registerSecret(value);
      return nonEmpty(value);
    },
    urlInput: (name) => nonEmpty(maskUserInfo(quietly(() => tl.getInput(name, false)))),
    variable: (name) => nonEmpty(tl.getVariable(name)),
    secretVariable(name) {
      const value = quietly(() => tl.getVariable(name));
      registerSecret(value);
      return nonEmpty(value);
    },
    endpoint: endpointOf,
    setSecret: registerSecret,
    setOutput(name, value) {
      // A later step may echo the value: it must not carry a command or start a line there either.
      const problem = outputValueProblem(value);
      if (problem) throw new TaskError('OutputValueUnsafe', [name, neutralize(value).slice(0, 200), problem]);
      tl.setVariable(name, value, false, true);
      console.log(render('OutputVariable', [name, value]));
    },
    setProgress: (percent, label) => tl.setProgress(Math.floor(percent), neutralize(label)),
    uploadSummary(title, markdown) {
      const folder = tl.getVariable('Agent.TempDirectory') ?? os.tmpdir();
      const file = path.join(folder, `${title.replace(/[^A-Za-z0-9]+/g, '-')}-${process.pid}.md`);
      fs.writeFileSync(file, safeLines(markdown));
      tl.addAttachment('Distributedtask.Core.Summary', title, file);
    },
    findFiles(patterns) {
      const root = tl.getVariable('System.DefaultWorkingDirectory') ?? process.cwd();
      return tl.findMatch(root, [...patterns], undefined, { matchBase: false, dot: true }).filter((file) => fs.statSync(file).isFile());
    },
  };
}

/** After a cancel, how long the task may take to clean up before it exits anyway. */
const CANCEL_GRACE_MS = 10_000;

/**
 * Runs a task: reads and checks its inputs, runs the body with them, and sets the task result. The
 * only place that catches and reports errors: a core failure about a setting is reported as the
 * input that carried it (the reader's table). It also answers the agent's cancel: SIGINT or
 * SIGTERM aborts the lifetime's signal, the body unwinds through its own clean-up, and whatever it
 * tracked is removed before the task exits.
 */
export async function runTask<T extends WithSettings>(taskDirectory: string, read: (agent: Agent) => T, body: (inputs: T, agent: Agent) => Promise<string>): Promise<void> {
  const lifetime = new OwnedLifetime(tl.getVariable('Agent.TempDirectory') ?? os.tmpdir());
  const agent = taskLibAgent(taskDirectory, lifetime);
  const onSignal = (signal: NodeJS.Signals) => {
    if (lifetime.signal.aborted) return exitNow(lifetime, signal);
    lifetime.cancel(`the agent cancelled the job (${signal})`);
    setTimeout(() => exitNow(lifetime, signal), CANCEL_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let settings: SettingInputs = {};
  try {
    const inputs = read(agent);
    settings = inputs.settings;
    tl.setResult(tl.TaskResult.Succeeded, await body(inputs, agent));
  } catch (error) {
    report(asInputError(error, settings), lifetime);
  } finally {
    lifetime.removeTracked();
    agent.network().close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A failure's message in the agent's language, its arguments through the output boundary. */
function messageOf(error: TaskError): string {
  if (!(error instanceof InputError)) return render(error.key, error.args);
  // loc() without arguments gives the localized template, whose slot takes the input's name.
  return safeLines(formatTemplate(tl.loc(error.key), error.args.map(safeArgument), error.input));
}

function report(error: unknown, lifetime: OwnedLifetime): void {
  if (error instanceof Error && error.stack) tl.debug(withoutQuery(error.stack).split(/\r?\n/).map(neutralize).join('\n'));
  const explained = explainFailure(error);
  const message = explained instanceof TaskError ? messageOf(explained) : neutralize(String((explained as Error)?.message ?? explained));
  const cancelled = lifetime.signal.aborted && (lifetime.signal.reason as { reason?: string })?.reason === 'cancelled';
  // Last line of defence: an unexpected error may quote a URL, and a SAS lives in its query.
  tl.setResult(cancelled ? tl.TaskResult.Cancelled : tl.TaskResult.Failed, withoutQuery(message));
}

/** A second signal, or a clean-up that outlived its grace: remove what is tracked, say so, and go. */
function exitNow(lifetime: OwnedLifetime, signal: NodeJS.Signals): void {
  lifetime.removeTracked();
  tl.setResult(tl.TaskResult.Cancelled, render('TaskCancelled', [signal]));
  process.exit(1);
}
