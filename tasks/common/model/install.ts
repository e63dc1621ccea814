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
import type { ModelSetting } from './settings';

/** Every failure here is the destination's: the user fixes it by choosing another folder. */
function destinationError(key: MessageKey, args: readonly unknown[]): SettingError<ModelSetting> {
  return new SettingError<ModelSetting>('destination', key, args);
}

interface Marker {
  readonly installedBy: 'FetchLatestModel';
  readonly files: readonly string[];
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
  try {
    const marker = JSON.parse(await readFile(markerPath(destination), 'utf8')) as Partial<Marker>;
    return marker.installedBy === 'FetchLatestModel' && Array.isArray(marker.files) ? marker.files : [];
  } catch {
    return [];
  }
}

async function writeMarker(destination: string, files: Iterable<string>): Promise<void> {
  const path = markerPath(destination);
  const temporary = `${path}.${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, JSON.stringify({ installedBy: 'FetchLatestModel', files: [...files] } satisfies Marker));
  await rename(temporary, path);
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
export async function promoteStaging(staging: Staging, destination: string, files: readonly string[], previous: readonly string[]): Promise<void> {
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
  await writeMarker(destination, files);
  if (hadPrevious) await rm(aside, { recursive: true, force: true });
}

function notWritable(destination: string, error: unknown): SettingError<ModelSetting> {
  return destinationError('DestinationNotWritable', [INPUT_SLOT, destination, (error as NodeJS.ErrnoException).code ?? String(error)]);
}

export async function discardStaging(staging: Staging): Promise<void> {
  await rm(staging.path, { recursive: true, force: true });
  staging.release();
}
