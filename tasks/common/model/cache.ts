import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Log } from '../log';

/** What a cached download is valid for: the same files with the same ETags and sizes. */
export interface CachedFile {
  readonly relativePath: string;
  readonly etag: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * A cached file's stat when it was verified, as git's index keeps it: a file whose stat is the
 * same has not been written since (a write moves ctime, which no utimes call can set back).
 */
interface StatRecord {
  readonly size: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
}

interface CacheEntry {
  readonly uri: string;
  readonly files: readonly (CachedFile & { readonly stat: StatRecord })[];
}

/**
 * A folder of verified downloads keyed by the model's URI. An entry is reused only when every
 * file's ETag and size still match the store, so a re-published version is never served stale,
 * and only when every cached file is still the one verified: a file whose stat changed is hashed
 * again, and a mismatch drops the whole entry.
 */
export class ModelCache {
  constructor(
    private readonly root: string,
    private readonly log: Log,
  ) {}

  /** The cached files for this URI when they match `wanted` exactly and are untouched, else undefined. */
  async lookup(uri: string, wanted: readonly Omit<CachedFile, 'sha256'>[]): Promise<readonly CachedFile[] | undefined> {
    const entry = await readFile(join(this.folderOf(uri), 'entry.json'), 'utf8').then((text) => JSON.parse(text) as CacheEntry, () => undefined);
    if (!entry || entry.uri !== uri || !Array.isArray(entry.files) || entry.files.length !== wanted.length) return undefined;
    const byPath = new Map(entry.files.map((file) => [file.relativePath, file]));
    const matches = wanted.every((file) => {
      const cached = byPath.get(file.relativePath);
      return cached && cached.etag === file.etag && cached.size === file.size;
    });
    if (!matches) return undefined;
    return (await this.untampered(uri, entry)) ? entry.files.map(({ stat: _, ...file }) => file) : undefined;
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
      const recorded: CacheEntry['files'][number][] = [];
      for (const file of files) {
        const target = join(temporary, 'files', file.relativePath);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(join(staging, file.relativePath), target, constants.COPYFILE_FICLONE);
        recorded.push({ ...file, stat: await statRecord(target) });
      }
      await writeFile(join(temporary, 'entry.json'), JSON.stringify({ uri, files: recorded } satisfies CacheEntry));
      await rm(folder, { recursive: true, force: true });
      await rename(temporary, folder);
    } catch (error) {
      this.log.warn('CacheSaveFailed', this.root, (error as NodeJS.ErrnoException).code ?? String(error));
      await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * Whether every cached file is still the one verified; a tampered entry is dropped, with a
   * warning. A file whose stat changed but whose bytes did not gets its stat recorded again, so
   * the next hit does not hash it again.
   */
  private async untampered(uri: string, entry: CacheEntry): Promise<boolean> {
    const folder = this.folderOf(uri);
    const files: CacheEntry['files'][number][] = [];
    let restatted = false;
    for (const file of entry.files) {
      const path = join(folder, 'files', file.relativePath);
      const now = await statRecord(path).catch(() => undefined);
      files.push(now ? { ...file, stat: now } : file);
      if (now && sameStat(now, file.stat)) continue;
      this.log.debug(`re-hashing cached ${file.relativePath}: its stat changed since it was verified`);
      const sha256 = now ? await sha256Of(path).catch(() => 'unreadable') : 'missing';
      if (sha256 !== file.sha256) {
        this.log.warn('CacheTampered', file.relativePath, this.root, file.sha256, sha256);
        await rm(folder, { recursive: true, force: true }).catch(() => undefined);
        return false;
      }
      restatted = true;
    }
    if (restatted) await writeFile(join(folder, 'entry.json'), JSON.stringify({ uri, files } satisfies CacheEntry)).catch(() => undefined);
    return true;
  }

  private folderOf(uri: string): string {
    return join(this.root, createHash('sha256').update(uri).digest('hex').slice(0, 32));
  }
}

async function statRecord(path: string): Promise<StatRecord> {
  const stats = await stat(path, { bigint: true });
  return { size: String(stats.size), mtimeNs: String(stats.mtimeNs), ctimeNs: String(stats.ctimeNs), ino: String(stats.ino) };
}

function sameStat(a: StatRecord, b: StatRecord | undefined): boolean {
  return b !== undefined && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('error', reject).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex')));
  });
}
