/**
 * Bake Model Into Image, dockerBuild mode: the user's Dockerfile, built with the model staged into
 * the build context (as build arg MODEL_DIR), by `docker build` when an engine answers, otherwise
 * by daemonless `buildah bud`. The staged copy and the registry login file are always removed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { TaskError } from '../errors';
import { stoppedBy } from '../net/errors';
import { explainedBy, registryClient, withinDeadline, type BakeContext, type BakeResult, type BakeTarget } from './bake';
import { isContentDigest, peerValue } from './digest';
import { readModelEntries, type ModelEntry } from './modelFiles';
import { modelLabels } from './modelImage';
import { readPeerManifest } from './peerManifest';
import { repositoryName } from './reference';
import type { RegistryAccess } from './registry/access';

export interface DockerBuildOptions extends BakeTarget {
  readonly access: RegistryAccess;
  readonly dockerfile?: string;
  readonly buildContext?: string;
  readonly buildArguments: Readonly<Record<string, string>>;
}

type Engine = 'docker' | 'buildah';

interface Run {
  readonly context: BakeContext;
  /** Ends the engine when the task is cancelled or out of time. */
  readonly signal: AbortSignal;
}

/** Each line of an engine's output, as it comes: a log line through the output boundary. */
function eachLine(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
}

function run(command: string, args: readonly string[], { context, signal }: Run, options: { quiet?: boolean } = {}): Promise<{ code: number; output: string }> {
  context.log.debug(`running: ${command} ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGTERM' });
    let output = '';
    const collect = (line: string) => {
      output = `${output}${line}\n`.slice(-20_000);
      if (!options.quiet) context.log.info('BuildOutputLine', command, line);
    };
    eachLine(child.stdout, collect);
    eachLine(child.stderr, collect);
    const settle = (code: number, fallback?: string) => (signal.aborted ? reject(stoppedBy(signal)) : resolve({ code, output: fallback ?? output }));
    child.on('error', (error) => settle(-1, error.message));
    child.on('close', (code) => settle(code ?? -1));
  });
}

async function findEngine(at: Run): Promise<Engine> {
  if ((await run('docker', ['info', '--format', '{{.ServerVersion}}'], at, { quiet: true })).code === 0) return 'docker';
  if ((await run('buildah', ['--version'], at, { quiet: true })).code === 0) return 'buildah';
  throw new TaskError('BuildEngineMissing', []);
}

/** Hard links when the model is on the same file system (no copy of gigabytes), copies otherwise. */
async function stageModel(entries: readonly ModelEntry[], into: string): Promise<void> {
  await fs.mkdir(into, { recursive: true });
  for (const entry of entries) {
    const destination = path.join(into, ...entry.relativePath.split('/'));
    if (entry.type === 'directory') await fs.mkdir(destination, { recursive: true });
    else if (entry.type === 'symlink') await fs.symlink(entry.linkTarget!, destination);
    else await fs.link(entry.source!, destination).catch(() => fs.copyFile(entry.source!, destination));
  }
}

async function writeAuthFile(folder: string, registry: string, login: { username: string; password: string } | undefined): Promise<string> {
  // docker reads <folder>/config.json (--config folder); buildah reads the same file (--authfile).
  const file = path.join(folder, 'config.json');
  const auths = login ? { [registry]: { auth: Buffer.from(`${login.username}:${login.password}`).toString('base64') } } : {};
  await fs.writeFile(file, JSON.stringify({ auths }), { mode: 0o600 });
  return file;
}

/** buildah trusts the CAs in a --cert-dir; Node's NODE_EXTRA_CA_CERTS means nothing to it. */
async function writeCertDir(work: string, ca: string | undefined): Promise<string | undefined> {
  if (!ca) return undefined;
  const folder = path.join(work, 'certs');
  await fs.mkdir(folder);
  await fs.writeFile(path.join(folder, 'ca.crt'), ca);
  return folder;
}

function buildArgs(options: DockerBuildOptions, stagedName: string): string[] {
  const { bake } = options;
  const args: Record<string, string | undefined> = { MODEL_DIR: stagedName, MODEL_PATH: bake.modelDirectory, MODEL_VERSION: bake.modelVersion, MODEL_DIGEST: bake.modelDigest, ...options.buildArguments };
  const labels = { ...modelLabels(bake), ...bake.labels };
  return [
    ...Object.entries(args).flatMap(([key, value]) => (value === undefined ? [] : ['--build-arg', `${key}=${value}`])),
    ...Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]),
  ];
}

interface Plan {
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

/** The command lines of each engine: build once, then push every tag; the digest lands in digestFile. */
function engineCommands(engine: Engine, plan: Plan): { build: string[]; push: (tag: string) => string[][] } {
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

async function buildAndPush(engine: Engine, plan: Plan, at: Run): Promise<string> {
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

/** The Dockerfile and the build context folder, checked before anything is staged. */
async function dockerfileOf(options: DockerBuildOptions): Promise<{ dockerfile: string; contextDir: string }> {
  const dockerfile = options.dockerfile ?? path.join(options.buildContext ?? '.', 'Dockerfile');
  await fs.access(dockerfile).catch(() => {
    throw new TaskError('DockerfileMissing', [dockerfile]);
  });
  return { dockerfile, contextDir: options.buildContext ?? path.dirname(dockerfile) };
}

export function dockerBuild(options: DockerBuildOptions, context: BakeContext): Promise<BakeResult> {
  return withinDeadline(options.timeoutMs, context, (signal) => buildUntil(signal, options, context));
}

/**
 * The login file lives in a scratch folder of the task's lifetime and the staged model is tracked
 * by it: a cancel at any stage leaves neither behind, however the task ends.
 */
async function buildUntil(signal: AbortSignal, options: DockerBuildOptions, context: BakeContext): Promise<BakeResult> {
  const entries = await readModelEntries(options.modelPath);
  const { dockerfile, contextDir } = await dockerfileOf(options);
  const at: Run = { context, signal };
  const engine = await findEngine(at);
  const client = registryClient(options.target.registry, [`repository:${options.target.repository}:pull,push`], options.registry, options.registry.credential, context, signal);
  const stagedName = `.bake-model-${randomBytes(4).toString('hex')}`;
  const staged = path.join(contextDir, stagedName);
  const releaseStaged = context.lifetime.track(staged);
  const work = context.lifetime.scratchFolder('bake-login');
  try {
    const login = options.access.kind === 'anonymous' ? undefined : await client.loginCredentials().catch(explainedBy(options.target.registry));
    const authFile = await writeAuthFile(work, options.target.registry, login);
    await stageModel(entries, staged);
    const digest = await buildAndPush(engine, {
      image: repositoryName(options.target),
      tags: options.tags.length > 0 ? options.tags : ['latest'],
      dockerfile,
      contextDir,
      buildArgs: buildArgs(options, stagedName),
      authFile,
      digestFile: path.join(work, 'digest'),
      insecure: options.registry.insecure,
      certDir: await writeCertDir(work, options.registry.ca),
    }, at);
    const image = `${repositoryName(options.target)}@${digest}`;
    const manifest = readPeerManifest(await client.getManifest(options.target.repository, digest).catch(explainedBy(options.target.registry)), image);
    return {
      imageRef: image,
      digest,
      mediaType: manifest.mediaType,
      tags: options.tags,
      modelLayerDigests: manifest.kind === 'manifest' ? manifest.layers.slice(-1).map((layer) => layer.digest) : [],
      baseDigest: '',
      platforms: [],
    };
  } finally {
    await fs.rm(staged, { recursive: true, force: true });
    await fs.rm(work, { recursive: true, force: true });
    releaseStaged();
  }
}
