/**
 * Bake Model Into Image, dockerBuild mode: the user's Dockerfile, built with the model staged into
 * the build context (as build arg MODEL_DIR), by `docker build` when an engine answers, otherwise
 * by daemonless `buildah bud`. The staged copy and the registry login file are always removed.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TaskError } from '../errors';
import type { BakeContext, BakeResult, BakeTarget } from './bake';
import { readModelEntries, type ModelEntry } from './modelFiles';
import { modelLabels } from './modelImage';
import { repositoryName } from './reference';
import type { RegistryAccess } from './registry/access';
import { RegistryClient } from './registry/client';

export interface DockerBuildOptions extends BakeTarget {
  readonly access: RegistryAccess;
  readonly dockerfile?: string;
  readonly buildContext?: string;
  readonly buildArguments: Readonly<Record<string, string>>;
}

type Engine = 'docker' | 'buildah';

function run(command: string, args: readonly string[], context: BakeContext, options: { quiet?: boolean } = {}): Promise<{ code: number; output: string }> {
  context.log.debug(`running: ${command} ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-20_000);
      if (!options.quiet) process.stdout.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => resolve({ code: -1, output: error.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

async function findEngine(context: BakeContext): Promise<Engine> {
  if ((await run('docker', ['info', '--format', '{{.ServerVersion}}'], context, { quiet: true })).code === 0) return 'docker';
  if ((await run('buildah', ['--version'], context, { quiet: true })).code === 0) return 'buildah';
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

async function buildAndPush(engine: Engine, plan: Plan, context: BakeContext): Promise<string> {
  const commands = engineCommands(engine, plan);
  const built = await run(engine, commands.build, context);
  if (built.code !== 0) throw new TaskError('BuildFailed', [engine, built.code, lastLines(built.output)]);
  for (const tag of plan.tags) {
    for (const command of commands.push(tag)) {
      const pushed = await run(engine, command, context);
      if (pushed.code !== 0) throw new TaskError('PushFailed', [engine, `${plan.image}:${tag}`, lastLines(pushed.output)]);
      // docker prints "<tag>: digest: sha256:... size: N"; buildah wrote --digestfile itself.
      const printed = engine === 'docker' ? /digest: (sha256:[a-f0-9]{64})/.exec(pushed.output)?.[1] : undefined;
      if (printed) await fs.writeFile(plan.digestFile, printed);
    }
  }
  return (await fs.readFile(plan.digestFile, 'utf8')).trim();
}

export async function dockerBuild(options: DockerBuildOptions, context: BakeContext): Promise<BakeResult> {
  const entries = await readModelEntries(options.modelPath);
  const dockerfile = options.dockerfile ?? path.join(options.buildContext ?? '.', 'Dockerfile');
  await fs.access(dockerfile).catch(() => {
    throw new TaskError('DockerfileMissing', [dockerfile]);
  });
  const contextDir = options.buildContext ?? path.dirname(dockerfile);
  const engine = await findEngine(context);
  const client = new RegistryClient(options.target.registry, { ...options.registry, scopes: [`repository:${options.target.repository}:pull,push`], log: context.log, onSecret: context.onSecret });
  const stagedName = `.bake-model-${randomBytes(4).toString('hex')}`;
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'bake-'));
  try {
    const login = options.access.kind === 'anonymous' ? undefined : await client.loginCredentials();
    const authFile = await writeAuthFile(work, options.target.registry, login);
    await stageModel(entries, path.join(contextDir, stagedName));
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
    }, context);
    const manifest = JSON.parse((await client.getManifest(options.target.repository, digest)).bytes.toString('utf8')) as { layers?: { digest: string }[] };
    return {
      imageRef: `${repositoryName(options.target)}@${digest}`,
      digest,
      mediaType: '',
      tags: options.tags,
      modelLayerDigests: manifest.layers?.slice(-1).map((layer) => layer.digest) ?? [],
      baseDigest: '',
      platforms: [],
    };
  } finally {
    client.close();
    await fs.rm(path.join(contextDir, stagedName), { recursive: true, force: true });
    await fs.rm(work, { recursive: true, force: true });
  }
}
