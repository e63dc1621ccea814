/**
 * Images for the real-runtime kubelet: pulled from the test registry with skopeo (which checks every
 * blob against its digest, and the manifest too when the reference names a digest), unpacked once
 * per reference with umoci (its raw commands) into an OCI bundle whose rootfs every pod of that image shares, read-only.
 * A pod's own bundle is a config.json made from the image's (Entrypoint/Cmd, Env, User, WorkingDir,
 * as umoci reads them) plus the pod's env, its own network namespace and a tmpfs /tmp.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type RegistryAccess, skopeoArgs } from '../../registry/imageTools';
import { run } from '../../registry/run';

export interface UnpackedImage {
  readonly rootfs: string;
  /** umoci's runtime config for the image. */
  readonly config: RuntimeConfig;
}

/** The parts of an OCI runtime config.json we read or change. */
export interface RuntimeConfig {
  process: { terminal?: boolean; user: { uid: number; gid: number }; args: string[]; env?: string[]; cwd: string; [key: string]: unknown };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: { namespaces?: { type: string; path?: string }[]; uidMappings?: unknown; gidMappings?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

export class ImageStore {
  private readonly unpacked = new Map<string, Promise<UnpackedImage>>();

  constructor(private readonly dir: string, private readonly registry: RegistryAccess) {}

  /** Waits for pulls under way, so their folders can be removed. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.unpacked.values()]);
  }

  /** The unpacked image; a reference outside the test registry, or one it does not hold, rejects. */
  image(reference: string): Promise<UnpackedImage> {
    let pending = this.unpacked.get(reference);
    if (!pending) {
      pending = this.pull(reference);
      this.unpacked.set(reference, pending);
      // A failed pull is tried again next time, as a kubelet does.
      pending.catch(() => this.unpacked.delete(reference));
    }
    return pending;
  }

  private async pull(reference: string): Promise<UnpackedImage> {
    if (!reference.startsWith(`${this.registry.host}/`)) throw new Error(`image ${reference} is not in the test registry ${this.registry.host}`);
    const folder = path.join(this.dir, createHash('sha256').update(reference).digest('hex').slice(0, 16));
    fs.rmSync(folder, { recursive: true, force: true });
    fs.mkdirSync(folder, { recursive: true });
    await run('skopeo', ['copy', '--quiet', ...skopeoArgs(this.registry, 'src'), `docker://${reference}`, `oci:${folder}/layout:image`], { timeoutMs: 300_000 });
    fs.mkdirSync(path.join(folder, 'bundle'));
    // The raw commands skip umoci's mtree of the whole rootfs (hashing every file), which the pods never need.
    await run('umoci', ['raw', 'unpack', '--image', `${folder}/layout:image`, `${folder}/bundle/rootfs`], { timeoutMs: 300_000 });
    await run('umoci', ['raw', 'runtime-config', '--image', `${folder}/layout:image`, '--rootfs', `${folder}/bundle/rootfs`, `${folder}/bundle/config.json`], { timeoutMs: 60_000 });
    // The layout's blobs are no longer needed: the rootfs holds the files.
    fs.rmSync(path.join(folder, 'layout'), { recursive: true, force: true });
    const config = JSON.parse(fs.readFileSync(path.join(folder, 'bundle', 'config.json'), 'utf8')) as RuntimeConfig;
    return { rootfs: path.join(folder, 'bundle', 'rootfs'), config };
  }
}

/** The pod's container config: the image's, with the pod's env over it, on the shared read-only rootfs. */
export function podRuntimeConfig(image: UnpackedImage, options: { hostname: string; env: Readonly<Record<string, string>>; command?: string[]; args?: string[] }): RuntimeConfig {
  const config = structuredClone(image.config);
  const env = new Map((config.process.env ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  for (const [key, value] of Object.entries(options.env)) env.set(key, value);
  config.process.env = [...env].map(([key, value]) => `${key}=${value}`);
  config.process.terminal = false;
  // Kubernetes: command replaces the Entrypoint, args the Cmd.
  if (options.command || options.args) config.process.args = [...(options.command ?? []), ...(options.args ?? [])];
  config.root = { path: image.rootfs, readonly: true };
  config.hostname = options.hostname;
  config.mounts = [...(config.mounts ?? []).filter((m) => m.destination !== '/tmp'), { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'] }];
  const linux = config.linux ?? {};
  const wanted = ['pid', 'network', 'ipc', 'uts', 'mount'];
  linux.namespaces = wanted.map((type) => ({ type }));
  delete linux.uidMappings;
  delete linux.gidMappings;
  config.linux = linux;
  return config;
}
