/**
 * The sample app's real image, built where Docker Hub and PyPI cannot be reached: a Debian rootfs
 * made by mmdebstrap from Debian's packages (python3-flask and python3-waitress stand in for the
 * Dockerfile's `pip install`), with the Dockerfile's own `useradd` run inside it; then the app's
 * files; then the ENV, WORKDIR, USER, EXPOSE and CMD that samples/flask-app/Dockerfile sets, read
 * from that file. samples/flask-app/Dockerfile stays the file users build.
 *
 * The rootfs layer (about 190 MB, 25 s to make) is cached between runs under the user's cache
 * folder, keyed by what goes into it, so only the first run on a machine builds it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { skopeoArgs, skopeoInspectRaw } from '../registry/imageTools';
import { type Descriptor, MEDIA, OciLayout, sha256 } from '../registry/ociLayout';
import type { TestRegistry } from '../registry/registry';
import { run } from '../registry/run';
import { type DockerfileImage, readDockerfile } from './dockerfile';

const SAMPLE_APP = path.join(__dirname, '..', '..', '..', 'samples', 'flask-app');
const UNCOMPRESSED_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** What goes into the rootfs; changing any of it makes a new cache entry. */
const ROOTFS = Object.freeze({
  suite: 'bookworm',
  variant: 'essential',
  // python-is-python3: the Dockerfile's CMD runs `python`; passwd: its `useradd`.
  packages: ['python3-flask', 'python3-waitress', 'python-is-python3', 'passwd'],
});

export interface AppImage {
  /** host/repository:tag */
  readonly reference: string;
  /** host/repository@sha256:... */
  readonly pinned: string;
  readonly digest: string;
  readonly dockerfile: DockerfileImage;
}

interface CachedLayer {
  readonly file: string;
  readonly digest: string;
  readonly size: number;
}

function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ai-model-delivery', 'app-rootfs');
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** `chroot "$1" useradd ...` for mmdebstrap's customize hook, from the Dockerfile's own words. */
function useraddHook(useradd: readonly string[] | undefined): string[] {
  if (!useradd) return [];
  if (useradd.some((word) => !/^[\w/.=-]+$/.test(word))) throw new Error(`unexpected characters in the Dockerfile's useradd: ${useradd.join(' ')}`);
  return [`--customize-hook=chroot "$1" ${useradd.join(' ')}`];
}

function mmdebstrap(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('mmdebstrap', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-4000)));
    child.on('error', (error) => reject(new Error(`mmdebstrap could not start (apt-get install mmdebstrap): ${error.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mmdebstrap failed (exit ${code}): ${errors}`))));
  });
}

let builds = 0;

/** How many times this process has run mmdebstrap: tests tell a cache hit by this, not by speed. */
export function rootfsBuilds(): number {
  return builds;
}

/** The rootfs as one uncompressed layer: made once per content key, then read from the cache. */
async function rootfsLayer(dockerfile: DockerfileImage): Promise<CachedLayer> {
  const hook = useraddHook(dockerfile.useradd);
  const key = createHash('sha256').update(JSON.stringify({ ...ROOTFS, hook })).digest('hex').slice(0, 16);
  const folder = path.join(cacheRoot(), key);
  const file = path.join(folder, 'layer.tar');
  const record = path.join(folder, 'layer.json');
  if (fs.existsSync(record)) return { file, ...(JSON.parse(fs.readFileSync(record, 'utf8')) as { digest: string; size: number }) };
  const building = `${folder}.building-${process.pid}`;
  fs.mkdirSync(building, { recursive: true });
  try {
    builds += 1;
    await mmdebstrap([`--variant=${ROOTFS.variant}`, `--include=${ROOTFS.packages.join(',')}`, ...hook, ROOTFS.suite, path.join(building, 'layer.tar')]);
    const built = path.join(building, 'layer.tar');
    fs.writeFileSync(path.join(building, 'layer.json'), JSON.stringify({ digest: await sha256OfFile(built), size: fs.statSync(built).size }));
    // Another process (a parallel test file) may have finished the same entry first: keep that one.
    if (!fs.existsSync(record)) fs.rmSync(folder, { recursive: true, force: true });
    try {
      fs.renameSync(building, folder);
    } catch (error) {
      if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
  } finally {
    fs.rmSync(building, { recursive: true, force: true });
  }
  return rootfsLayer(dockerfile);
}

/** The image config the Dockerfile describes, over the given layers. */
function imageConfig(dockerfile: DockerfileImage, diffIds: string[]): object {
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...dockerfile.env };
  return {
    created: '2024-01-01T00:00:00Z',
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    config: {
      User: dockerfile.user,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      WorkingDir: dockerfile.workdir,
      ExposedPorts: Object.fromEntries(dockerfile.exposedPorts.map((port) => [port, {}])),
      Cmd: dockerfile.cmd,
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: `mmdebstrap --variant=${ROOTFS.variant} --include=${ROOTFS.packages.join(',')} ${ROOTFS.suite} (+ ${dockerfile.useradd?.join(' ') ?? 'no user'})` },
      { created: '2024-01-01T00:00:00Z', created_by: `COPY ${dockerfile.appFiles.join(' ')} ${dockerfile.workdir}` },
    ],
  };
}

/** Builds (or reuses) the image and pushes it to the registry as repository:tag. */
export async function pushAppImage(registry: TestRegistry, repository: string, tag: string): Promise<AppImage> {
  const dockerfile = readDockerfile(fs.readFileSync(path.join(SAMPLE_APP, 'Dockerfile'), 'utf8'));
  const rootfs = await rootfsLayer(dockerfile);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'app-image-'));
  try {
    const layout = new OciLayout(dir);
    const rootfsBlob = path.join(dir, 'blobs', 'sha256', rootfs.digest.slice('sha256:'.length));
    fs.copyFileSync(rootfs.file, rootfsBlob, fs.constants.COPYFILE_FICLONE);
    const rootfsDescriptor: Descriptor = { mediaType: UNCOMPRESSED_LAYER, digest: rootfs.digest, size: rootfs.size };
    const files = Object.fromEntries(dockerfile.appFiles.map((name) => [path.posix.join(dockerfile.workdir, name), { content: fs.readFileSync(path.join(SAMPLE_APP, name), 'utf8') }]));
    const app = layout.writeLayer(files);
    const config = layout.writeJson(MEDIA.config, imageConfig(dockerfile, [rootfs.digest, app.diffId]));
    const manifest: Descriptor = layout.writeJson(MEDIA.manifest, { schemaVersion: 2, mediaType: MEDIA.manifest, config, layers: [rootfsDescriptor, app.descriptor] });
    layout.tag(manifest, tag);
    await run('skopeo', ['copy', '--quiet', ...skopeoArgs(registry, 'dest'), `oci:${dir}:${tag}`, `docker://${registry.host}/${repository}:${tag}`]);
    // skopeo writes the manifest anew on the way: the digest is the registry's, not ours.
    const digest = sha256(await skopeoInspectRaw(registry, `${repository}:${tag}`));
    return { reference: `${registry.host}/${repository}:${tag}`, pinned: `${registry.host}/${repository}@${digest}`, digest, dockerfile };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
