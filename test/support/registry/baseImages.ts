/**
 * Base images for the bake tests, built without docker: an OCI layout written from Node (two gzip
 * layers, a full config) and pushed with `skopeo copy`, so the registry holds what a real push
 * makes. Three kinds, as app images come in practice:
 *   oci    — OCI manifest, pushed as written (its digest is the one we computed);
 *   docker — skopeo converts it to a Docker v2 schema 2 manifest (--format v2s2);
 *   index  — an OCI index of linux/amd64 and linux/arm64 images, pushed with --all.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Platform, dockerRef, skopeoArgs, skopeoInspectRaw } from './imageTools';
import { type Descriptor, type FileSpec, MEDIA, OciLayout, sha256 } from './ociLayout';
import type { TestRegistry } from './registry';
import { run } from './run';

export type BaseImageKind = 'oci' | 'docker' | 'index';

/** The OCI image config as written (the `config` section holds what a Dockerfile sets). */
export interface BaseImageConfig {
  created: string;
  architecture: string;
  variant?: string;
  os: string;
  config: {
    User: string;
    ExposedPorts: Record<string, object>;
    Env: string[];
    Entrypoint: string[];
    Cmd: string[];
    WorkingDir: string;
    Labels: Record<string, string>;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: Array<{ created: string; created_by: string; comment?: string; empty_layer?: boolean }>;
}

export interface BaseImagePlatform {
  readonly architecture: Platform;
  /** Digest of this platform's manifest as written (for 'docker', skopeo's converted one differs). */
  readonly manifestDigest: string;
  /** The gzip layers, bottom first (the same blobs whichever manifest format skopeo wrote). */
  readonly layers: Descriptor[];
  /** Path in the image -> content. */
  readonly files: Record<string, string>;
  readonly config: BaseImageConfig;
}

export interface BaseImage {
  /** host/repo:tag */
  readonly reference: string;
  readonly repository: string;
  readonly tag: string;
  /** Of the manifest or index as the registry serves it (sha256 of `skopeo inspect --raw`). */
  readonly digest: string;
  readonly mediaType: string;
  /** The amd64 image's files (the only platform, except for 'index'). */
  readonly files: Record<string, string>;
  readonly config: BaseImageConfig;
  /** One entry per platform: amd64 first, then arm64 for 'index'. */
  readonly platforms: BaseImagePlatform[];
}

const CREATED = '2024-01-01T00:00:00Z';

/** The files of the two layers: an "OS" layer, then the app on top. Content names the platform. */
function layerFiles(arch: Platform): [Record<string, FileSpec>, Record<string, FileSpec>] {
  return [
    {
      '/etc/os-release': { content: `PRETTY_NAME="Test Base Linux 1.0 (${arch})"\nID=testbase\nVERSION_ID=1.0\n` },
      '/usr/bin/hello': { content: `#!/bin/sh\necho "hello from ${arch}"\n`, mode: 0o755 },
    },
    {
      '/app/app.py': { content: `import os\nprint("serving model from", os.environ.get("MODEL_PATH", "/models"), "on ${arch}")\n` },
      '/app/requirements.txt': { content: 'flask==3.0.0\n' },
    },
  ];
}

function imageConfig(arch: Platform, diffIds: string[]): BaseImageConfig {
  return {
    created: CREATED,
    architecture: arch,
    ...(arch === 'arm64' ? { variant: 'v8' } : {}),
    os: 'linux',
    config: {
      User: '1000:1000',
      ExposedPorts: { '8080/tcp': {} },
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_ENV=production'],
      Entrypoint: ['python3', '/app/app.py'],
      Cmd: ['--port', '8080'],
      WorkingDir: '/app',
      Labels: { 'org.opencontainers.image.title': 'test-base-app', 'com.example.base': 'true' },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [
      { created: CREATED, created_by: 'ADD rootfs.tar.gz / # the OS layer' },
      { created: CREATED, created_by: 'ENV APP_ENV=production', empty_layer: true },
      { created: CREATED, created_by: 'COPY app/ /app/ # the app layer' },
    ],
  };
}

/** Writes one platform's layers, config and manifest into the layout. */
function writePlatformImage(layout: OciLayout, arch: Platform): { manifest: Descriptor; platform: BaseImagePlatform } {
  const layers = layerFiles(arch).map((files) => layout.writeLayer(files));
  const config = imageConfig(arch, layers.map((l) => l.diffId));
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: layout.writeJson(MEDIA.config, config),
    layers: layers.map((l) => l.descriptor),
  };
  const descriptor = layout.writeJson(MEDIA.manifest, manifest);
  const files = Object.fromEntries(layerFiles(arch).flatMap((l) => Object.entries(l).map(([p, f]) => [p, f.content])));
  return {
    manifest: { ...descriptor, platform: { architecture: arch, os: 'linux', ...(config.variant ? { variant: config.variant } : {}) } },
    platform: { architecture: arch, manifestDigest: descriptor.digest, layers: manifest.layers, files, config },
  };
}

/** Builds the image in a temporary layout, pushes it with skopeo and reads back what the registry holds. */
export async function pushBaseImage(registry: TestRegistry, repository: string, tag: string, kind: BaseImageKind): Promise<BaseImage> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'base-image-'));
  try {
    const layout = new OciLayout(dir);
    const arches: Platform[] = kind === 'index' ? ['amd64', 'arm64'] : ['amd64'];
    const images = arches.map((arch) => writePlatformImage(layout, arch));
    const top = kind === 'index'
      ? layout.writeJson(MEDIA.index, { schemaVersion: 2, mediaType: MEDIA.index, manifests: images.map((i) => i.manifest) })
      : images[0].manifest;
    layout.tag({ mediaType: top.mediaType, digest: top.digest, size: top.size }, tag);

    const reference = `${registry.host}/${repository}:${tag}`;
    const format = kind === 'docker' ? ['--format', 'v2s2'] : [];
    const all = kind === 'index' ? ['--all'] : [];
    await run('skopeo', ['copy', '--quiet', ...format, ...all, ...skopeoArgs(registry, 'dest'), `oci:${dir}:${tag}`, dockerRef(registry, reference)]);

    const raw = await skopeoInspectRaw(registry, reference);
    const mediaType = String((JSON.parse(raw) as { mediaType?: string }).mediaType);
    const expected = kind === 'docker' ? MEDIA.dockerManifest : kind === 'index' ? MEDIA.index : MEDIA.manifest;
    if (mediaType !== expected) throw new Error(`pushed ${kind} base image ${reference} but the registry serves ${mediaType}, not ${expected}`);
    const digest = sha256(raw);
    if (kind !== 'docker' && digest !== top.digest) throw new Error(`skopeo rewrote ${reference}: ${digest}, written as ${top.digest}`);
    const platforms = images.map((i) => i.platform);
    return { reference, repository, tag, digest, mediaType, files: platforms[0].files, config: platforms[0].config, platforms };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
