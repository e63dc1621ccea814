/**
 * Reads the model on disk into a plain list of entries, refusing what must never reach an image:
 * symlinks that point outside the model folder, and special files (pipes, sockets, devices).
 */
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { SettingError } from '../errors';
import { compareBytes } from '../bytes';
import type { MessageKey } from '../messages';

export interface ModelEntry {
  /** Path relative to the model root with '/' separators; the root itself is never listed. */
  readonly relativePath: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly size: number;
  readonly executable: boolean;
  /** Absolute path on disk (files). */
  readonly source?: string;
  /** Relative link target inside the model (symlinks). */
  readonly linkTarget?: string;
}

/** The setting a refused model names: where the model is (BakeTarget's modelPath). */
export type ModelFilesSetting = 'modelPath';

/** A model the bake cannot take: the user points modelPath elsewhere or fixes the files. */
export function modelRefused(key: MessageKey, args: readonly unknown[]): SettingError<ModelFilesSetting> {
  return new SettingError<ModelFilesSetting>('modelPath', key, args);
}

function specialKind(stats: Stats): string | undefined {
  if (stats.isFIFO()) return 'named pipe';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  return undefined;
}

function refuseSpecial(stats: Stats, shownPath: string): void {
  const kind = specialKind(stats);
  if (kind) throw modelRefused('ModelPathSpecialFile', [shownPath, kind]);
}

/** A symlink inside the model stays a symlink, made relative; one that leaves the model is refused. */
async function linkEntry(root: string, absolute: string, relativePath: string, shownRoot: string): Promise<ModelEntry> {
  const target = await fs.readlink(absolute);
  const resolved = path.resolve(path.dirname(absolute), target);
  const real = await fs.realpath(resolved).catch(() => resolved);
  const inside = real === root || real.startsWith(root + path.sep);
  if (!inside) throw modelRefused('ModelSymlinkEscapes', [relativePath, target, shownRoot]);
  const linkTarget = path.relative(path.dirname(absolute), real).split(path.sep).join('/') || '.';
  return { relativePath, type: 'symlink', size: 0, executable: false, linkTarget };
}

async function walk(root: string, folder: string, shownRoot: string, into: ModelEntry[]): Promise<void> {
  const names = (await fs.readdir(folder)).sort(compareBytes);
  for (const name of names) {
    const absolute = path.join(folder, name);
    const relativePath = path.relative(root, absolute).split(path.sep).join('/');
    const stats = await fs.lstat(absolute);
    refuseSpecial(stats, absolute);
    if (stats.isSymbolicLink()) {
      into.push(await linkEntry(root, absolute, relativePath, shownRoot));
    } else if (stats.isDirectory()) {
      into.push({ relativePath, type: 'directory', size: 0, executable: true });
      await walk(root, absolute, shownRoot, into);
    } else {
      into.push({ relativePath, type: 'file', size: stats.size, executable: (stats.mode & 0o111) !== 0, source: absolute });
    }
  }
}

/**
 * The model's entries, sorted by path. A single file becomes one entry named after the file; a
 * folder's contents are listed (not the folder itself), so they land directly under modelDirectory.
 */
export async function readModelEntries(modelPath: string): Promise<readonly ModelEntry[]> {
  const stats = await fs.stat(modelPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') throw modelRefused('ModelPathMissing', [modelPath]);
    throw modelRefused('ModelPathUnreadable', [modelPath, error.code ?? error.message]);
  });
  refuseSpecial(stats, modelPath);
  const real = await fs.realpath(modelPath);
  if (stats.isFile()) {
    return [{ relativePath: path.basename(modelPath), type: 'file', size: stats.size, executable: false, source: real }];
  }
  const entries: ModelEntry[] = [];
  await walk(real, real, modelPath, entries);
  if (!entries.some((entry) => entry.type === 'file')) throw modelRefused('ModelPathEmpty', [modelPath]);
  return entries;
}
