import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Log } from '../log';
import { matchesWanted, recheck, statRecord, type CachedFile, type RecordedFile } from './fileRecord';

export type { CachedFile } from './fileRecord';

interface CacheEntry {
  readonly uri: string;
  readonly files: readonly RecordedFile[];
}

/** Cached files are read-only: a write through a hard link to them fails instead of changing them. */
const READ_ONLY = 0o444;

/**
 * A folder of verified downloads keyed by the model's URI. An entry is reused only when every
 * file's ETag and size still match the store, so a re-published version is never served stale,
 * and only when every cached file is still the one verified: a file whose stat changed is hashed
 * again, and a mismatch drops the whole entry. Files move in and out by hard link where the file
 * system allows (constant time), else by reflink or copy; they are read-only, and a write that
 * gets through anyway (root ignores the mode) moves ctime, which the next lookup catches.
 */
export class ModelCache {
  constructor(
    private readonly root: string,
    private readonly log: Log,
  ) {}

  /** The cached files for this URI when they match `wanted` exactly and are untouched, else undefined. */
  async lookup(uri: string, wanted: readonly Omit<CachedFile, 'sha256'>[]): Promise<readonly CachedFile[] | undefined> {
    const entry = await this.readEntry(uri);
    if (!entry || !matchesWanted(entry.files, wanted)) return undefined;
    return (await this.untampered(uri, entry)) ? entry.files.map(({ stat: _, ...file }) => file) : undefined;
  }

  /** Puts cached files into a staging folder: hard links where it can, copies (a reflink where possible) elsewhere. */
  async restore(uri: string, files: readonly CachedFile[], staging: string): Promise<void> {
    const folder = join(this.folderOf(uri), 'files');
    let linked = false;
    for (const file of files) {
      const target = join(staging, file.relativePath);
      await mkdir(dirname(target), { recursive: true });
      linked = (await linkOrCopy(join(folder, file.relativePath), target)) || linked;
    }
    // A new link moved the cached files' ctime: record their stat again, or the next hit re-hashes them.
    if (linked) await this.record(uri, files, this.folderOf(uri)).catch(() => undefined);
  }

  /** Saves verified files. Best effort: a full or read-only cache only costs the next run time. */
  async save(uri: string, files: readonly CachedFile[], staging: string): Promise<void> {
    const folder = this.folderOf(uri);
    const temporary = `${folder}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      for (const file of files) {
        const target = join(temporary, 'files', file.relativePath);
        await mkdir(dirname(target), { recursive: true });
        await linkOrCopy(join(staging, file.relativePath), target);
        await chmod(target, READ_ONLY);
      }
      await this.record(uri, files, temporary);
      await rm(folder, { recursive: true, force: true });
      await rename(temporary, folder);
    } catch (error) {
      this.log.warn('CacheSaveFailed', this.root, (error as NodeJS.ErrnoException).code ?? String(error));
      await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async record(uri: string, files: readonly CachedFile[], folder: string): Promise<void> {
    const recorded: RecordedFile[] = [];
    for (const file of files) recorded.push({ ...file, stat: await statRecord(join(folder, 'files', file.relativePath)) });
    await writeFile(join(folder, 'entry.json'), JSON.stringify({ uri, files: recorded } satisfies CacheEntry));
  }

  private async readEntry(uri: string): Promise<CacheEntry | undefined> {
    const entry = await readFile(join(this.folderOf(uri), 'entry.json'), 'utf8').then((text) => JSON.parse(text) as CacheEntry, () => undefined);
    return entry && entry.uri === uri && Array.isArray(entry.files) ? entry : undefined;
  }

  /**
   * Whether every cached file is still the one verified; a tampered entry is dropped, with a
   * warning. A file whose stat changed but whose bytes did not gets its stat recorded again, so
   * the next hit does not hash it again.
   */
  private async untampered(uri: string, entry: CacheEntry): Promise<boolean> {
    const folder = this.folderOf(uri);
    const checked = await recheck(join(folder, 'files'), entry.files, 'cached', this.log);
    if (!checked.intact) {
      this.log.warn('CacheTampered', checked.file.relativePath, this.root, checked.file.sha256, checked.now);
      await rm(folder, { recursive: true, force: true }).catch(() => undefined);
      return false;
    }
    if (checked.restatted) await writeFile(join(folder, 'entry.json'), JSON.stringify({ uri, files: checked.files } satisfies CacheEntry)).catch(() => undefined);
    return true;
  }

  private folderOf(uri: string): string {
    return join(this.root, createHash('sha256').update(uri).digest('hex').slice(0, 32));
  }
}

/** A hard link (true), or a copy where the file system or the folders do not allow one (false). */
async function linkOrCopy(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch {
    await copyFile(from, to, constants.COPYFILE_FICLONE);
    return false;
  }
}
