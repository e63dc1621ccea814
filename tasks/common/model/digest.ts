import { createHash } from 'node:crypto';
import { compareBytes } from '../bytes';

export interface FileDigest {
  readonly relativePath: string;
  /** Lower-case hex sha256 of the file. */
  readonly sha256: string;
}

/**
 * The model's digest. A single-file model is the file's own sha256; a folder model is the sha256 of
 * its `sha256sum` listing sorted by path, so anyone can recompute it:
 *   (cd model && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum) | sha256sum
 */
export function modelDigest(files: readonly FileDigest[], layout: 'folder' | 'file'): string {
  if (layout === 'file' && files.length === 1) return `sha256:${files[0].sha256}`;
  return `sha256:${createHash('sha256').update(digestListing(files)).digest('hex')}`;
}

export function digestListing(files: readonly FileDigest[]): string {
  return [...files]
    .sort((a, b) => compareBytes(a.relativePath, b.relativePath))
    .map((file) => `${file.sha256}  ${file.relativePath}\n`)
    .join('');
}
