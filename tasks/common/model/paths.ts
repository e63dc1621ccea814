import { TaskError } from '../errors';

/**
 * Names from a store are hostile: they end up as paths on the agent's disk and, through the
 * version and model name, in log lines and output variables. A name is refused whole when any
 * part of it could escape the destination, start a log line or an agent command, or mean
 * something else on Windows. Names are printed only as message arguments (the output boundary
 * neutralizes them there).
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const COMMAND = /##(vso)?\[/i;
/** CON, PRN, AUX, NUL, COM1-9 and LPT1-9 (superscript digits too), alone or with any extension. */
const RESERVED = /^(con|prn|aux|nul|com[1-9\u00b9\u00b2\u00b3]|lpt[1-9\u00b9\u00b2\u00b3])(\..*)?$/i;
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;

/** Refuses a name (a version folder, a file, a version text) that is unsafe anywhere it may be printed or written. */
export function assertSafeName(name: string): void {
  if (CONTROL.test(name)) throw new TaskError('UnsafeNameControl', [name]);
  if (COMMAND.test(name)) throw new TaskError('UnsafeNameCommand', [name]);
}

/**
 * Turns a name from the store into a safe relative path under the destination, or fails. A blob
 * name is attacker-controlled text: it must never reach outside the destination folder.
 */
export function safeRelativePath(relative: string, fullName: string): string {
  assertSafeName(fullName);
  const segments = relative.split('/');
  const escapes =
    relative.length === 0 ||
    relative.startsWith('/') ||
    /^[A-Za-z]:/.test(relative) ||
    relative.includes('\\') ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..');
  if (escapes) throw new TaskError('UnsafeBlobName', [fullName]);
  if (WINDOWS_FORBIDDEN.test(relative)) throw new TaskError('UnsafeNameCharacter', [fullName]);
  for (const segment of segments) {
    if (RESERVED.test(segment.replace(/[. ]+$/, ''))) throw new TaskError('UnsafeNameReserved', [fullName, segment]);
    if (/[. ]$/.test(segment)) throw new TaskError('UnsafeNameTrailing', [fullName, segment]);
  }
  return relative;
}

/**
 * Checks that no two files of one model land on the same path: on a case-insensitive file system,
 * or one that normalizes Unicode (macOS stores NFD, Windows and Linux keep either form).
 */
export function assertDistinctPaths(paths: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const key = path.normalize('NFC').toLowerCase();
    const other = seen.get(key);
    if (other !== undefined) throw new TaskError('PathCollision', [other, path]);
    seen.set(key, path);
  }
}
