import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Log } from '../log';

/** What a cached download is valid for: the same files with the same ETags and sizes. */
export interface CachedFile {
  readonly relativePath: string;
  readonly etag: string;
  readonly size: number;
  readonly sha256: string;
}

interface CacheEntry {
  readonly uri: string;
  readonly files: readonly CachedFile[];
}

/**
 * A folder of verified downloads keyed by the model's URI. An entry is reused only when every
 * file's ETag and size still match the store, so a re-published version is never served stale.
 */
export class ModelCache {
  constructor(
    private readonly root: string,
    private readonly log: Log,
  ) {}

  /** The cached files for this URI when they match `wanted` exactly, else undefined. */
  async lookup(uri: string, wanted: readonly Omit<CachedFile, 'sha256'>[]): Promise<readonly CachedFile[] | undefined> {
    const entry = await readFile(join(this.folderOf(uri), 'entry.json'), 'utf8').then((text) => JSON.parse(text) as CacheEntry, () => undefined);
    if (!entry || entry.uri !== uri || entry.files.length !== wanted.length) return undefined;
    const byPath = new Map(entry.files.map((file) => [file.relativePath, file]));
    const matches = wanted.every((file) => {
      const cached = byPath.get(file.relativePath);
      return cached && cached.etag === file.etag && cached.size === file.size;
    });
    return matches ? entry.files : undefined;
  }

  /** Copies cached files into a staging folder (a reflink where the file system can). */
  async restore(uri: string, files: readonly CachedFile[], staging: string): Promise<void> {
    for (const file of files) {
      const target = join(staging, file.relativePath);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(join(this.folderOf(uri), 'files', file.relativePath), target, constants.COPYFILE_FICLONE);
    }
  }

  /** Saves verified files. Best effort: a full or read-only cache only costs the next run time. */
  async save(uri: string, files: readonly CachedFile[], staging: string): Promise<void> {
    const folder = this.folderOf(uri);
    const temporary = `${folder}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      for (const file of files) {
        const target = join(temporary, 'files', file.relativePath);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(join(staging, file.relativePath), target, constants.COPYFILE_FICLONE);
      }
      await writeFile(join(temporary, 'entry.json'), JSON.stringify({ uri, files } satisfies CacheEntry));
      await rm(folder, { recursive: true, force: true });
      await rename(temporary, folder);
    } catch (error) {
      this.log.warn('CacheSaveFailed', this.root, (error as NodeJS.ErrnoException).code ?? String(error));
      await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private folderOf(uri: string): string {
    return join(this.root, createHash('sha256').update(uri).digest('hex').slice(0, 32));
  }
}
