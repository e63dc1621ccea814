/**
 * Installs a model at the destination without ever losing what is not ours. The model is
 * assembled in a staging folder beside the destination (same file system, so the final rename is
 * atomic) and renamed into place only once every file is complete and verified. A marker beside
 * the destination lists the files this task installed there: a non-empty folder it did not
 * install, or one that has gained other files since, is refused rather than replaced. The marker
 * lives beside the model, not in it, so the folder holds exactly the model's files (its digest
 * can be recomputed from them, and Bake copies nothing else).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { formatBytes } from '../bytes';
import { SettingError, INPUT_SLOT } from '../errors';
import type { Lifetime } from '../lifetime';
import type { Log } from '../log';
import type { MessageKey } from '../messages';
import { matchesWanted, recheck, sameStat, statRecord, type CachedFile, type RecordedFile } from './fileRecord';
import type { ModelSetting } from './settings';

/** Every failure here is the destination's: the user fixes it by choosing another folder. */
function destinationError(key: MessageKey, args: readonly unknown[]): SettingError<ModelSetting> {
  return new SettingError<ModelSetting>('destination', key, args);
}

/** Which verified model the installed files are, with their stat when installed. */
interface InstalledModel {
  readonly uri: string;
  readonly files: readonly RecordedFile[];
}

interface Marker {
  readonly installedBy: 'FetchLatestModel';
  readonly files: readonly string[];
  readonly model?: InstalledModel;
}

/** `.model.fetch-latest-model` beside `…/model`. */
export function markerPath(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.fetch-latest-model`);
}

/**
 * The files of the model this task installed at the destination before, or [] when there is
 * nothing there. Refuses a file, and a non-empty folder holding anything this task did not install.
 */
export async function previousInstall(destination: string): Promise<readonly string[]> {
  const existing = await stat(destination).catch(() => undefined);
  if (!existing) return [];
  if (!existing.isDirectory()) throw destinationError('DestinationIsFile', [INPUT_SLOT, destination]);
  const present = await filesUnder(destination);
  if (present.length === 0) return [];
  const installed = new Set(await readMarker(destination));
  const foreign = present.find((file) => !installed.has(file));
  if (foreign !== undefined) throw destinationError('DestinationForeign', [INPUT_SLOT, destination, foreign]);
  return present;
}

/** Files and links below a folder, as '/'-separated relative paths; folders themselves do not count. */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => !entry.isDirectory()).map((entry) => relative(folder, join(entry.parentPath, entry.name)).split(sep).join('/'));
}

async function readMarker(destination: string): Promise<readonly string[]> {
  return (await markerOf(destination))?.files ?? [];
}

async function markerOf(destination: string): Promise<Marker | undefined> {
  try {
    const marker = JSON.parse(await readFile(markerPath(destination), 'utf8')) as Partial<Marker>;
    return marker.installedBy === 'FetchLatestModel' && Array.isArray(marker.files) ? (marker as Marker) : undefined;
  } catch {
    return undefined;
  }
}

async function writeMarker(destination: string, files: Iterable<string>, model?: InstalledModel): Promise<void> {
  const path = markerPath(destination);
  const temporary = `${path}.${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, JSON.stringify({ installedBy: 'FetchLatestModel', files: [...files], ...(model ? { model } : {}) } satisfies Marker));
  await rename(temporary, path);
}

/**
 * What Fetch recorded of the model it installed at `destination` (undefined when it installed none
 * there), and whether every file's stat is still as recorded. Nothing is read but the stats.
 */
export async function installRecord(destination: string): Promise<{ readonly files: readonly CachedFile[]; readonly unchanged: boolean } | undefined> {
  const model = (await markerOf(destination))?.model;
  if (!model || !Array.isArray(model.files)) return undefined;
  let unchanged = true;
  for (const file of model.files) {
    const now = await statRecord(join(destination, file.relativePath)).catch(() => undefined);
    unchanged &&= now !== undefined && sameStat(now, file.stat);
  }
  return { files: model.files.map(({ stat: _, ...file }) => file), unchanged };
}

/**
 * The verified files of the model installed at the destination when it is exactly the one wanted
 * (same URI, paths, ETags and sizes; nothing else in the folder) and no file was written since it
 * was installed, else undefined. `present` is what previousInstall found there.
 */
export async function installedModel(destination: string, present: readonly string[], uri: string, wanted: readonly Omit<CachedFile, 'sha256'>[], log: Log): Promise<readonly CachedFile[] | undefined> {
  const model = (await markerOf(destination))?.model;
  if (!model || model.uri !== uri || !Array.isArray(model.files) || !matchesWanted(model.files, wanted) || present.length !== wanted.length) return undefined;
  const checked = await recheck(destination, model.files, 'installed', log);
  if (!checked.intact) {
    log.debug(`the installed ${checked.file.relativePath} changed since it was verified (sha256 ${checked.file.sha256}, now ${checked.now}): installing the model again`);
    return undefined;
  }
  if (checked.restatted) await writeMarker(destination, present, { uri, files: checked.files }).catch(() => undefined);
  return model.files.map(({ stat: _, ...file }) => file);
}

/** Refuses, before anything is written, a model larger than the free space where it will be staged. */
export async function assertRoomFor(destination: string, bytes: number): Promise<void> {
  const folder = await nearestExisting(dirname(destination));
  const space = await statfs(folder).catch(() => undefined);
  if (!space) return; // a file system that cannot say: the write itself will tell
  const free = space.bavail * space.bsize;
  if (bytes > free) throw destinationError('NotEnoughDiskSpace', [formatBytes(bytes), destination, formatBytes(free)]);
}

async function nearestExisting(folder: string): Promise<string> {
  for (let current = folder; ; current = dirname(current)) {
    if (await stat(current).then(() => true, () => false)) return current;
    if (dirname(current) === current) return current;
  }
}

export interface Staging {
  readonly path: string;
  /** Stops tracking it for removal at the task's end: it became the destination. */
  readonly release: () => void;
}

/**
 * A new staging folder beside the destination, named with this process's id so a later run can
 * tell a dead run's leftovers (`.<name>.partial-<pid>-<hex>`) and remove them. The lifetime removes
 * it however the task ends, a cancel included.
 */
export async function createStaging(destination: string, context: { readonly lifetime: Lifetime; readonly log: Log }): Promise<Staging> {
  const parent = dirname(destination);
  const path = join(parent, `.${basename(destination)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(parent, { recursive: true });
    await removeStaleStaging(destination, context.log);
    await mkdir(path);
  } catch (error) {
    throw notWritable(destination, error);
  }
  return { path, release: context.lifetime.track(path) };
}

/** Removes the staging folders of runs that were killed: their process is gone. */
async function removeStaleStaging(destination: string, log: Log): Promise<void> {
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(destination))}\\.partial-(\\d+)-[0-9a-f]+(\\.previous)?$`);
  for (const name of await readdir(dirname(destination))) {
    const pid = pattern.exec(name)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    await rm(join(dirname(destination), name), { recursive: true, force: true });
    log.debug(`removed ${name}, left behind by process ${pid}, which is no longer running`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replaces the destination with the staging folder; a previous model is removed only afterwards.
 * The marker lists both models' files while they swap, so a stop in between leaves nothing that
 * the next run would take for a stranger's.
 */
export async function promoteStaging(staging: Staging, destination: string, model: { readonly uri: string; readonly files: readonly CachedFile[] }, previous: readonly string[]): Promise<void> {
  const files = model.files.map((file) => file.relativePath);
  await writeMarker(destination, new Set([...previous, ...files])).catch((error) => {
    throw notWritable(destination, error);
  });
  const aside = `${staging.path}.previous`;
  const hadPrevious = await rename(destination, aside).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return false;
    throw notWritable(destination, error);
  });
  try {
    await rename(staging.path, destination);
    staging.release();
  } catch (error) {
    if (hadPrevious) await rename(aside, destination).catch(() => undefined);
    throw notWritable(destination, error);
  }
  if (hadPrevious) await rm(aside, { recursive: true, force: true });
  // Stat after the previous model is gone: it may have shared inodes (hard links) with this one.
  const recorded: RecordedFile[] = [];
  for (const file of model.files) recorded.push({ ...file, stat: await statRecord(join(destination, file.relativePath)) });
  await writeMarker(destination, files, { uri: model.uri, files: recorded });
}

function notWritable(destination: string, error: unknown): SettingError<ModelSetting> {
  return destinationError('DestinationNotWritable', [INPUT_SLOT, destination, (error as NodeJS.ErrnoException).code ?? String(error)]);
}

export async function discardStaging(staging: Staging): Promise<void> {
  await rm(staging.path, { recursive: true, force: true });
  staging.release();
}
