/**
 * Verified files remembered by their stat, as git's index keeps them: a file whose stat is the same
 * has not been written since (a write moves ctime, which no utimes call can set back). The cache
 * and the installed model both keep such records, so a hit costs a stat per file, not a read.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../log';

/** What a download is valid for: the same files with the same ETags and sizes. */
export interface CachedFile {
  readonly relativePath: string;
  readonly etag: string;
  readonly size: number;
  readonly sha256: string;
}

export interface StatRecord {
  readonly size: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  /** Links to the inode: a hard link made or removed moves ctime without touching the bytes. */
  readonly nlink?: string;
}

export type RecordedFile = CachedFile & { readonly stat: StatRecord };

export async function statRecord(path: string): Promise<StatRecord> {
  const stats = await stat(path, { bigint: true });
  return { size: String(stats.size), mtimeNs: String(stats.mtimeNs), ctimeNs: String(stats.ctimeNs), ino: String(stats.ino), nlink: String(stats.nlink) };
}

/**
 * Whether a file is still the one recorded. A moved ctime is a write, unless the link count moved
 * with it while size, mtime and inode stayed: then a hard link to it was made or removed (the
 * cache and a restored model share inodes).
 */
export function sameStat(now: StatRecord, recorded: StatRecord | undefined): boolean {
  if (!recorded || now.size !== recorded.size || now.mtimeNs !== recorded.mtimeNs || now.ino !== recorded.ino) return false;
  return now.ctimeNs === recorded.ctimeNs || (recorded.nlink !== undefined && now.nlink !== recorded.nlink);
}

export function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('error', reject).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex')));
  });
}

/** Whether recorded files match what is wanted: the same paths, ETags and sizes. */
export function matchesWanted(recorded: readonly CachedFile[], wanted: readonly Omit<CachedFile, 'sha256'>[]): boolean {
  if (recorded.length !== wanted.length) return false;
  const byPath = new Map(recorded.map((file) => [file.relativePath, file]));
  return wanted.every((file) => {
    const known = byPath.get(file.relativePath);
    return known !== undefined && known.etag === file.etag && known.size === file.size;
  });
}

export type Recheck =
  | { readonly intact: true; readonly files: readonly RecordedFile[]; readonly restatted: boolean }
  | { readonly intact: false; readonly file: RecordedFile; readonly now: string };

/**
 * Checks recorded files under a folder: a file whose stat changed is hashed again; the first whose
 * bytes differ ends the check. Intact files come back with their current stat.
 */
export async function recheck(folder: string, recorded: readonly RecordedFile[], label: 'cached' | 'installed', log: Log): Promise<Recheck> {
  const files: RecordedFile[] = [];
  let restatted = false;
  for (const file of recorded) {
    const path = join(folder, file.relativePath);
    const now = await statRecord(path).catch(() => undefined);
    files.push(now ? { ...file, stat: now } : file);
    if (now && sameStat(now, file.stat)) continue;
    log.debug(`re-hashing ${label} ${file.relativePath}: its stat changed since it was verified`);
    const sha256 = now ? await sha256Of(path).catch(() => 'unreadable') : 'missing';
    if (sha256 !== file.sha256) return { intact: false, file, now: sha256 };
    restatted = true;
  }
  return { intact: true, files, restatted };
}
