import { TaskError } from '../errors';

/**
 * Turns a name from the store into a safe relative path under the destination, or fails. A blob
 * name is attacker-controlled text: it must never reach outside the destination folder.
 */
export function safeRelativePath(relative: string, fullName: string): string {
  const segments = relative.split('/');
  const bad =
    relative.length === 0 ||
    relative.startsWith('/') ||
    /^[A-Za-z]:/.test(relative) ||
    /[\\\u0000]/.test(relative) ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad) throw new TaskError('UnsafeBlobName', [fullName]);
  return relative;
}

/** Checks that no two files of one model land on the same path (case-insensitive file systems too). */
export function assertDistinctPaths(paths: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const key = path.toLowerCase();
    const other = seen.get(key);
    if (other !== undefined) throw new TaskError('PathCollision', [other, path]);
    seen.set(key, path);
  }
}
