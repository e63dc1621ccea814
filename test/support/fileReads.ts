/**
 * How many bytes this process reads from the files under a folder while some work runs: fs.open
 * and fs.read are wrapped, which is what every fs.ReadStream uses (bench/maxRss.cjs counts a task
 * process the same way). Reads of other files, and other processes' reads, are not counted.
 */
import { createRequire } from 'node:module';

type Callback = (error: Error | null, ...results: unknown[]) => void;
type Wrapped = (...args: unknown[]) => void;

const fs = createRequire(__filename)('node:fs') as Record<'open' | 'read' | 'close', Wrapped>;

export async function bytesReadUnder<T>(folder: string, work: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const real = { open: fs.open, read: fs.read, close: fs.close };
  const watched = new Set<number>();
  let bytes = 0;
  const withCallback = (args: unknown[], wrap: (callback: Callback) => Callback) => {
    const callback = args.pop() as Callback;
    return [...args, wrap(callback)];
  };
  fs.open = (path, ...rest) => real.open(path, ...withCallback(rest, (done) => (error, fd) => {
    if (!error && String(path).startsWith(folder)) watched.add(fd as number);
    done(error, fd);
  }));
  fs.read = (fd, ...rest) => real.read(fd, ...withCallback(rest, (done) => (error, count, ...more) => {
    if (!error && watched.has(fd as number)) bytes += count as number;
    done(error, count, ...more);
  }));
  fs.close = (fd, ...rest) => {
    watched.delete(fd as number);
    real.close(fd, ...rest);
  };
  try {
    return { result: await work(), bytes };
  } finally {
    Object.assign(fs, real);
  }
}
