/**
 * Bake Model Into Image, dockerBuild mode: the user's Dockerfile, built with the model staged into
 * the build context (as build arg MODEL_DIR), by `docker build` when an engine answers, otherwise
 * by daemonless `buildah bud`. The staged copy and the registry login file are always removed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SettingError } from '../errors';
import { attestPushed, beginAttestation } from '../attest/attest';
import { explainedBy, registryClient, withinDeadline, type BakeContext, type BakedImage, type BakeTarget } from '../oci/bake';
import { readModelEntries, type ModelEntry } from '../oci/modelFiles';
import { modelLabels } from '../oci/modelImage';
import { readPeerManifest } from '../oci/peerManifest';
import { repositoryName } from '../oci/reference';
import type { RegistryAccess } from '../oci/registry/access';
import { buildAndPush, findEngine, type Engine, type EngineRun } from './engine';

export interface DockerBuildOptions extends BakeTarget {
  readonly access: RegistryAccess;
  readonly dockerfile?: string;
  readonly buildContext?: string;
  readonly buildArguments: Readonly<Record<string, string>>;
}

/** The setting a missing Dockerfile names, besides those of every bake (BakeSetting). */
export type DockerfileSetting = 'dockerfile';

/** What the engine gives: the digest it pushed, and what the registry then serves under it. */
export interface DockerBuildResult extends BakedImage {
  readonly mode: 'dockerBuild';
  readonly engine: Engine;
  /** The pushed manifest's, as the registry serves it. */
  readonly mediaType: string;
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

/** The Dockerfile and the build context folder, checked before anything is staged. */
async function dockerfileOf(options: DockerBuildOptions): Promise<{ dockerfile: string; contextDir: string }> {
  const dockerfile = options.dockerfile ?? path.join(options.buildContext ?? '.', 'Dockerfile');
  await fs.access(dockerfile).catch(() => {
    throw new SettingError<DockerfileSetting>('dockerfile', 'DockerfileMissing', [dockerfile]);
  });
  return { dockerfile, contextDir: options.buildContext ?? path.dirname(dockerfile) };
}

export function dockerBuild(options: DockerBuildOptions, context: BakeContext): Promise<DockerBuildResult> {
  return withinDeadline(options.timeoutMs, context, (signal) => buildUntil(signal, options, context));
}

/**
 * The login file lives in a scratch folder of the task's lifetime and the staged model is tracked
 * by it: a cancel at any stage leaves neither behind, however the task ends.
 */
async function buildUntil(signal: AbortSignal, options: DockerBuildOptions, context: BakeContext): Promise<DockerBuildResult> {
  const attesting = beginAttestation(options);
  const entries = await readModelEntries(options.modelPath);
  const { dockerfile, contextDir } = await dockerfileOf(options);
  const at: EngineRun = { log: context.log, signal };
  const engine = await findEngine(at);
  const { target } = options;
  const client = registryClient(target.registry, [`repository:${target.repository}:pull,push`], options.registry, options.registry.credential, context, signal);
  const stagedName = `.bake-model-${randomBytes(4).toString('hex')}`;
  const staged = path.join(contextDir, stagedName);
  const releaseStaged = context.lifetime.track(staged);
  const work = context.lifetime.scratchFolder('bake-login');
  try {
    const login = options.access.kind === 'anonymous' ? undefined : await client.loginCredentials().catch(explainedBy(target.registry));
    const authFile = await writeAuthFile(work, target.registry, login);
    await stageModel(entries, staged);
    const digest = await buildAndPush(engine, {
      image: repositoryName(target),
      tags: options.tags.length > 0 ? options.tags : ['latest'],
      dockerfile,
      contextDir,
      buildArgs: buildArgs(options, stagedName),
      authFile,
      digestFile: path.join(work, 'digest'),
      insecure: options.registry.insecure,
      certDir: await writeCertDir(work, options.registry.ca),
    }, at);
    const image = `${repositoryName(target)}@${digest}`;
    const manifest = readPeerManifest(await client.getManifest(target.repository, digest).catch(explainedBy(target.registry)), image);
    // The engine does not say which layer holds the model: taken as the last one, where COPY $MODEL_DIR usually lands.
    const modelLayerDigests = manifest.kind === 'manifest' ? manifest.layers.slice(-1).map((layer) => layer.digest) : [];
    const attestation = await attestPushed(client, options, digest, attesting, context.log).catch(explainedBy(target.registry));
    return { mode: 'dockerBuild', engine, imageRef: image, digest, mediaType: manifest.mediaType, tags: options.tags, modelLayerDigests, ...(attestation ? { attestation } : {}) };
  } finally {
    await fs.rm(staged, { recursive: true, force: true });
    await fs.rm(work, { recursive: true, force: true });
    releaseStaged();
  }
}
