/**
 * Assertions through real third-party tools, so our OCI client is judged by what skopeo and umoci
 * make of its output, not by our own parser. TLS and credential flags come from the TestRegistry.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestRegistry } from './registry';
import { run } from './run';

export type Platform = 'amd64' | 'arm64';
export type RegistryAccess = Pick<TestRegistry, 'host' | 'tls' | 'certDir' | 'username' | 'password'>;

/**
 * skopeo's flags for this registry: `--tls-verify=false` for plain http (skopeo then falls back to
 * http), `--cert-dir` with the test CA for TLS, `--creds` when it has users. `role` gives copy's
 * `--src-` / `--dest-` spellings.
 */
export function skopeoArgs(registry: RegistryAccess, role: '' | 'src' | 'dest' = ''): string[] {
  const prefix = role ? `--${role}-` : '--';
  const args = registry.tls ? [`${prefix}cert-dir`, registry.certDir as string] : [`${prefix}tls-verify=false`];
  if (registry.username) args.push(`${prefix}creds`, `${registry.username}:${registry.password}`);
  return args;
}

/** `docker://host/repo:tag` from `repo:tag`, `repo@sha256:..` or a reference that already names the host. */
export function dockerRef(registry: Pick<TestRegistry, 'host'>, ref: string): string {
  return `docker://${ref.startsWith(`${registry.host}/`) ? ref : `${registry.host}/${ref}`}`;
}

function platformArgs(platform: Platform | undefined): string[] {
  return platform ? ['--override-os', 'linux', '--override-arch', platform] : [];
}

export interface SkopeoInspection {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Created?: string;
  Architecture: string;
  Os: string;
  Layers: string[];
  Labels: Record<string, string> | null;
  Env: string[] | null;
  [key: string]: unknown;
}

/** `skopeo inspect`: the image's digest, labels, env and layers (for an index: `platform`, or the host's). */
export async function skopeoInspect(registry: RegistryAccess, ref: string, options: { platform?: Platform } = {}): Promise<SkopeoInspection> {
  const { stdout } = await run('skopeo', [...platformArgs(options.platform), 'inspect', ...skopeoArgs(registry), dockerRef(registry, ref)]);
  return JSON.parse(stdout) as SkopeoInspection;
}

/** An image config blob as skopeo prints it (OCI and Docker configs share these fields). */
export interface ImageConfigJson {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  /** Optional in the spec; typed as present because every image these tests make has one. */
  config: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, object>;
  };
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>;
  [key: string]: unknown;
}

/** `skopeo inspect --config`: the image config blob, parsed. */
export async function skopeoInspectConfig(registry: RegistryAccess, ref: string, options: { platform?: Platform } = {}): Promise<ImageConfigJson> {
  const { stdout } = await run('skopeo', [...platformArgs(options.platform), 'inspect', '--config', ...skopeoArgs(registry), dockerRef(registry, ref)]);
  return JSON.parse(stdout) as ImageConfigJson;
}

/** `skopeo inspect --raw`: the manifest or index exactly as the registry serves it. */
export async function skopeoInspectRaw(registry: RegistryAccess, ref: string): Promise<string> {
  return (await run('skopeo', ['inspect', '--raw', ...skopeoArgs(registry), dockerRef(registry, ref)])).stdout;
}

export interface RuntimeConfig {
  process: { args?: string[]; env?: string[]; cwd: string; user: { uid: number; gid: number } };
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface UnpackedImage {
  /** The image's root filesystem, as umoci extracted it. */
  readonly rootfs: string;
  /** The OCI runtime config umoci generated from the image config (the bundle's config.json). */
  readonly runtimeConfig: RuntimeConfig;
  cleanup(): Promise<void>;
}

/**
 * Pulls `ref` with skopeo into an OCI layout (one platform of an index: `platform`) and unpacks it
 * with umoci, which applies the layers in order with whiteouts, checking every digest on the way.
 */
export async function unpackImage(registry: RegistryAccess, ref: string, options: { platform?: Platform } = {}): Promise<UnpackedImage> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unpacked-image-'));
  const cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const layout = path.join(dir, 'layout');
    const bundle = path.join(dir, 'bundle');
    await run('skopeo', [...platformArgs(options.platform), 'copy', '--quiet', ...skopeoArgs(registry, 'src'), dockerRef(registry, ref), `oci:${layout}:img`]);
    // Non-root users need --rootless (no chown); as root umoci keeps owners as the layer says.
    const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
    await run('umoci', ['unpack', ...rootless, '--image', `${layout}:img`, bundle]);
    const runtimeConfig = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as RuntimeConfig;
    return { rootfs: path.join(bundle, 'rootfs'), runtimeConfig, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The text of every file under `rootfs` whose image path is in `paths`. */
export function readImageFiles(rootfs: string, paths: readonly string[]): Record<string, string> {
  return Object.fromEntries(paths.map((p) => [p, fs.readFileSync(path.join(rootfs, p), 'utf8')]));
}
