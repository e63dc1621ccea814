/**
 * Writes OCI image layouts from Node, without docker: deterministic ustar layers (fixed mtime,
 * root owner, sorted entries, parent directories first), gzip-compressed like real base images,
 * and the config / manifest / index blobs that reference them by digest.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface FileSpec {
  readonly content: string;
  /** Default 0o644. */
  readonly mode?: number;
}

const MTIME = Date.UTC(2024, 0, 1) / 1000;

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function tarHeader(name: string, size: number, mode: number, type: '0' | '5'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name longer than 100 bytes: ${name}`);
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write(octal(mode, 8), 100);
  header.write(octal(0, 8), 108); // uid
  header.write(octal(0, 8), 116); // gid
  header.write(octal(size, 12), 124);
  header.write(octal(MTIME, 12), 136);
  header.write('        ', 148); // checksum is computed with this field as spaces
  header.write(type, 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.write('root', 265);
  header.write('root', 297);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

/** An uncompressed tar of `files` (absolute image paths such as /app/app.py). */
export function tarFiles(files: Record<string, FileSpec>): Buffer {
  const dirs = new Set<string>();
  for (const file of Object.keys(files)) {
    const parts = file.replace(/^\/+/, '').split('/').slice(0, -1);
    parts.forEach((_, i) => dirs.add(`${parts.slice(0, i + 1).join('/')}/`));
  }
  const entries = [...[...dirs].map((d) => ({ name: d, file: undefined })), ...Object.keys(files).map((f) => ({ name: f.replace(/^\/+/, ''), file: files[f] }))]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const chunks: Buffer[] = [];
  for (const entry of entries) {
    if (!entry.file) {
      chunks.push(tarHeader(entry.name, 0, 0o755, '5'));
      continue;
    }
    const content = Buffer.from(entry.file.content, 'utf8');
    chunks.push(tarHeader(entry.name, content.length, entry.file.mode ?? 0o644, '0'), content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  chunks.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(chunks);
}

/** An OCI image layout directory being filled with blobs. */
export class OciLayout {
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  writeBlob(mediaType: string, data: Buffer | string): Descriptor {
    const digest = sha256(data);
    fs.writeFileSync(path.join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
    return { mediaType, digest, size: Buffer.byteLength(data) };
  }

  writeJson(mediaType: string, value: unknown): Descriptor {
    return this.writeBlob(mediaType, JSON.stringify(value));
  }

  /** A gzip layer of `files`; diffId is the digest of the uncompressed tar (for rootfs.diff_ids). */
  writeLayer(files: Record<string, FileSpec>): { descriptor: Descriptor; diffId: string } {
    const tar = tarFiles(files);
    return { descriptor: this.writeBlob(MEDIA.layerGzip, gzipSync(tar, { level: 9 })), diffId: sha256(tar) };
  }

  /** index.json naming `descriptor` as `tag` (an image manifest or an image index). */
  tag(descriptor: Descriptor, tag: string): void {
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: [{ ...descriptor, annotations: { ...descriptor.annotations, 'org.opencontainers.image.ref.name': tag } }],
    };
    fs.writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify(index));
  }
}
