import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors';

/**
 * A model is assembled in a staging folder beside the destination (same file system, so the final
 * rename is atomic) and only renamed into place once every file is complete and verified.
 */
export async function createStaging(destination: string): Promise<string> {
  const existing = await stat(destination).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new InputError('destination', 'DestinationIsFile', ['destination', destination]);
  const staging = join(dirname(destination), `.${basename(destination)}.partial-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(dirname(destination), { recursive: true });
    await mkdir(staging);
  } catch (error) {
    throw new InputError('destination', 'DestinationNotWritable', ['destination', destination, (error as NodeJS.ErrnoException).code ?? String(error)]);
  }
  return staging;
}

/** Replaces the destination with the staging folder; a previous model is removed only afterwards. */
export async function promoteStaging(staging: string, destination: string): Promise<void> {
  const previous = `${staging}.previous`;
  const hadPrevious = await rename(destination, previous).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return false;
    throw new InputError('destination', 'DestinationNotWritable', ['destination', destination, error.code ?? String(error)]);
  });
  try {
    await rename(staging, destination);
  } catch (error) {
    if (hadPrevious) await rename(previous, destination).catch(() => undefined);
    throw new InputError('destination', 'DestinationNotWritable', ['destination', destination, (error as NodeJS.ErrnoException).code ?? String(error)]);
  }
  if (hadPrevious) await rm(previous, { recursive: true, force: true });
}

export async function discardStaging(staging: string): Promise<void> {
  await rm(staging, { recursive: true, force: true });
}
