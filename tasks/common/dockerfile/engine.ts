/**
 * The build engines of dockerBuild mode: `docker` when an engine answers, otherwise daemonless
 * `buildah`. Their output goes through the task's Log, line by line, as it comes; only the last
 * lines are kept, for the message when a step fails.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { TaskError } from '../errors';
import type { Log } from '../log';
import { stoppedBy } from '../net/errors';
import { isContentDigest, peerValue } from '../oci/digest';

export type Engine = 'docker' | 'buildah';

export interface EngineRun {
  readonly log: Log;
  /** Ends the engine when the task is cancelled or out of time. */
  readonly signal: AbortSignal;
}

/** What to build and where to push it, in terms both engines understand. */
export interface BuildPlan {
  readonly image: string;
  readonly tags: readonly string[];
  readonly dockerfile: string;
  readonly contextDir: string;
  readonly buildArgs: readonly string[];
  /** The registry login: a folder holding config.json (docker --config) with the same file for buildah --authfile. */
  readonly authFile: string;
  readonly digestFile: string;
  readonly insecure: boolean;
  /** A folder holding ca.crt when the registry's CA was given (buildah --cert-dir). */
  readonly certDir?: string;
}

/** Each line of an engine's output, as it comes: a log line through the output boundary. */
function eachLine(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
}

function run(command: string, args: readonly string[], { log, signal }: EngineRun, options: { quiet?: boolean } = {}): Promise<{ code: number; output: string }> {
  log.debug(`running: ${command} ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGTERM' });
    let output = '';
    const collect = (line: string) => {
      output = `${output}${line}\n`.slice(-20_000);
      if (!options.quiet) log.info('BuildOutputLine', command, line);
    };
    eachLine(child.stdout, collect);
    eachLine(child.stderr, collect);
    const settle = (code: number, fallback?: string) => (signal.aborted ? reject(stoppedBy(signal)) : resolve({ code, output: fallback ?? output }));
    child.on('error', (error) => settle(-1, error.message));
    child.on('close', (code) => settle(code ?? -1));
  });
}

export async function findEngine(at: EngineRun): Promise<Engine> {
  if ((await run('docker', ['info', '--format', '{{.ServerVersion}}'], at, { quiet: true })).code === 0) return 'docker';
  if ((await run('buildah', ['--version'], at, { quiet: true })).code === 0) return 'buildah';
  throw new TaskError('BuildEngineMissing', []);
}

/** The command lines of each engine: build once, then push every tag; the digest lands in digestFile. */
function engineCommands(engine: Engine, plan: BuildPlan): { build: string[]; push: (tag: string) => string[][] } {
  const first = `${plan.image}:${plan.tags[0]}`;
  if (engine === 'docker') {
    const login = ['--config', path.dirname(plan.authFile)];
    return {
      build: [...login, 'build', '-f', plan.dockerfile, '-t', first, ...plan.buildArgs, plan.contextDir],
      push: (tag) => [...(tag === plan.tags[0] ? [] : [[...login, 'tag', first, `${plan.image}:${tag}`]]), [...login, 'push', `${plan.image}:${tag}`]],
    };
  }
  // vfs storage and chroot isolation: buildah runs as a plain process, no daemon or overlay needed.
  const common = ['--storage-driver', 'vfs'];
  const tls = plan.insecure ? ['--tls-verify=false'] : plan.certDir ? ['--cert-dir', plan.certDir] : [];
  return {
    build: [...common, 'bud', '--authfile', plan.authFile, ...tls, '--isolation', 'chroot', '--layers=false', '-f', plan.dockerfile, '-t', first, ...plan.buildArgs, plan.contextDir],
    push: (tag) => [[...common, 'push', '--authfile', plan.authFile, ...tls, '--digestfile', plan.digestFile, first, `docker://${plan.image}:${tag}`]],
  };
}

function lastLines(output: string): string {
  return output.split('\n').filter(Boolean).slice(-5).join(' | ');
}

/** Builds once, pushes every tag, and returns the digest the engine pushed. */
export async function buildAndPush(engine: Engine, plan: BuildPlan, at: EngineRun): Promise<string> {
  const commands = engineCommands(engine, plan);
  const built = await run(engine, commands.build, at);
  if (built.code !== 0) throw new TaskError('BuildFailed', [engine, built.code, lastLines(built.output)]);
  for (const tag of plan.tags) {
    for (const command of commands.push(tag)) {
      const pushed = await run(engine, command, at);
      if (pushed.code !== 0) throw new TaskError('PushFailed', [engine, `${plan.image}:${tag}`, lastLines(pushed.output)]);
      // docker prints "<tag>: digest: sha256:... size: N"; buildah wrote --digestfile itself.
      const printed = engine === 'docker' ? /digest: (sha256:[a-f0-9]{64})/.exec(pushed.output)?.[1] : undefined;
      if (printed) await fs.writeFile(plan.digestFile, printed);
    }
  }
  const digest = (await fs.readFile(plan.digestFile, 'utf8').catch(() => '')).trim();
  if (!isContentDigest(digest)) throw new TaskError('PushFailed', [engine, plan.image, `it reported no digest (${peerValue(digest)})`]);
  return digest;
}
