import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RemoteError, TaskError } from '../errors';
import type { Log, Progress } from '../log';
import { StoppedError } from '../net/errors';
import { retry, type RetryFailure, type RetryPolicy } from '../net/retry';
import { acceptWritten, type Block, BlockBudget, BlockQueue, completeBlock, type FileState, Folders } from './blocks';
import { ConcurrencyGovernor } from './governor';
import { startingLevel } from './governorRule';
import { HashingThread, inlineHasher, type FileHasher } from './hashing';
import { classifyReadFailure, RangeInterrupted } from './readFailure';
import type { ModelStore, StoredObject } from './store';

export interface DownloadSettings {
  readonly concurrency: number;
  readonly blockSize: number;
  /** How a broken range is tried again, each time from the last byte written. */
  readonly retry: RetryPolicy;
  /** Compute MD5 too, for objects whose store reports Content-MD5. */
  readonly md5: boolean;
  /** A range that sends nothing for this long is dropped and resumed. */
  readonly idleTimeoutMs: number;
}

export interface DownloadTarget {
  readonly object: StoredObject;
  readonly path: string;
}

export interface DownloadedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Base64, like Content-MD5; only when asked for and the store knows the object's MD5. */
  readonly md5?: string;
}

/**
 * Downloads files with parallel ranged requests straight to disk, hashing while the bytes arrive
 * (in order, reading each written stretch back from the page cache, so no second pass over the
 * disk and no chunk held for hashing), resuming a range where a dropped connection left it.
 */
export async function downloadFiles(
  store: ModelStore,
  targets: readonly DownloadTarget[],
  settings: DownloadSettings,
  context: { readonly signal: AbortSignal; readonly log: Log; readonly progress: Progress },
): Promise<DownloadedFile[]> {
  const thread = targets.some((target) => target.object.size >= THREADED_HASH_BYTES) ? new HashingThread() : undefined;
  const folders = new Folders();
  const files = targets.map((target) => planFile(target, settings, folders));
  const queue = new BlockQueue(files, settings.blockSize);
  const budget = new BlockBudget(settings.concurrency);
  const governor = new ConcurrencyGovernor(settings.concurrency, {
    initial: startingLevel(queue.blocks, settings.concurrency),
    onJudged: (sample, next) => context.log.debug(`${sample.connections} parallel ranged requests: ${(sample.bytesPerSecond / 1e6).toFixed(0)} MB/s; next ${next.connections}`),
  });
  const failure = new AbortController();
  const signal = AbortSignal.any([context.signal, failure.signal]);
  const handleOf = fileOpener(settings, thread);
  const reader = rangeReader(store, settings, handleOf, { signal, log: context.log, progress: context.progress }, (bytes, worker) => governor.received(bytes, worker));

  const worker = async (index: number) => {
    while (!queue.empty && !signal.aborted) {
      await governor.admit(index, signal);
      // Reserve before taking a block, so blocks are always held in file order and the hash
      // frontier's block is never the one left waiting for room.
      await budget.reserve(signal);
      const block = signal.aborted ? undefined : queue.take();
      if (!block) {
        budget.release();
        break;
      }
      await reader(block, index);
      completeBlock(block, budget);
      if (block.file.frontier === block.file.blockCount) await finishFile(block.file, handleOf);
    }
    governor.stop(); // nothing left to take: let the workers the governor held back finish too
  };
  try {
    const workers = Math.min(settings.concurrency, Math.max(queue.blocks, 1));
    await Promise.all(Array.from({ length: workers }, (_, index) => worker(index).catch((error) => {
      failure.abort(error);
      throw error;
    })));
    for (const file of files) await finishFile(file, handleOf);
    context.log.debug(`downloaded with up to ${governor.allowed} parallel ranged requests`);
    return files.map((file) => file.finished!);
  } finally {
    governor.stop();
    // The thread first: it may still be reading a file whose descriptor is about to close.
    await thread?.close();
    await Promise.allSettled(files.map(async (file) => (await file.handle)?.close()));
  }
}

/** Files this large are hashed on a second thread; small ones are not worth the messages. */
const THREADED_HASH_BYTES = 8 * 1024 * 1024;

function planFile(target: DownloadTarget, settings: DownloadSettings, folders: Folders): FileState {
  return { target, folders, blockCount: Math.ceil(target.object.size / settings.blockSize), live: [], frontier: 0 };
}

function hasherFor(target: DownloadTarget, fd: number, settings: DownloadSettings, thread: HashingThread | undefined): FileHasher {
  // MD5 costs 2.3x SHA-256 here; a published sha256 is the stronger check, so MD5 only stands in for it.
  const md5 = settings.md5 && target.object.contentMd5 !== undefined && target.object.sha256Metadata === undefined;
  return thread && target.object.size >= THREADED_HASH_BYTES ? thread.hasher(fd, md5) : inlineHasher(fd, md5);
}

type FileOpener = (file: FileState) => Promise<FileHandle>;

/** Opens a file once, for writing and for its hasher to read back what was written. */
function fileOpener(settings: DownloadSettings, thread: HashingThread | undefined): FileOpener {
  return (file) => {
    file.handle ??= file.folders.make(dirname(file.target.path)).then(async () => {
      const handle = await open(file.target.path, 'w+');
      file.hasher = hasherFor(file.target, handle.fd, settings, thread);
      return handle;
    });
    return file.handle;
  };
}

/** Closes a fully hashed file once, however many workers see it complete. */
function finishFile(file: FileState, handleOf: FileOpener): Promise<void> {
  file.finishing ??= (async () => {
    const handle = await handleOf(file);
    const digests = await file.hasher!.digest();
    file.hasher = undefined;
    file.handle = undefined;
    await handle.close();
    file.finished = { path: file.target.path, size: file.target.object.size, ...digests };
  })();
  return file.finishing;
}

interface ReadContext {
  readonly signal: AbortSignal;
  readonly log: Log;
  readonly progress: Progress;
}

/**
 * Fetches one block through the one retry policy, resuming after the last byte written when a
 * range breaks. A failure the policy will not retry passes as it is; one that outlasted every
 * attempt is reported as DownloadFailed.
 */
function rangeReader(
  store: ModelStore,
  settings: DownloadSettings,
  handleOf: FileOpener,
  context: ReadContext,
  received: (bytes: number, worker: number) => void,
): (block: Block, worker: number) => Promise<void> {
  const policy = settings.retry;
  const peer = peerOf(store.location);
  return async (block, worker) => {
    const arrived = (bytes: number) => received(bytes, worker);
    const name = block.file.target.object.name;
    const handle = await handleOf(block.file);
    const onRetry = ({ attempt, error, delayMs }: RetryFailure) => {
      context.log.debug(`range ${block.start + block.received}-${block.start + block.size - 1} of ${name} failed (${(error as Error).message}); resuming in ${delayMs} ms`);
      context.log.info('DownloadResuming', name, attempt, policy.attempts - 1);
    };
    try {
      await retry(() => streamRange(store, block, handle, { ...context, arrived, peer, idleTimeoutMs: settings.idleTimeoutMs }), policy, { signal: context.signal, onRetry, classify: classifyReadFailure });
    } catch (error) {
      if (context.signal.aborted || classifyReadFailure(error) === 'fail') throw error;
      throw new RemoteError('DownloadFailed', [name, policy.attempts, (error as Error).message], { cause: error });
    }
  };
}

/** host[:port] of a store's location, for the errors of a range it served. */
function peerOf(location: string): string {
  try {
    return new URL(location).host || location;
  } catch {
    return location;
  }
}

/** `arrived` hears of each socket chunk as it comes (the governor's measure); progress, of each batch written. */
async function streamRange(
  store: ModelStore,
  block: Block,
  handle: FileHandle,
  context: ReadContext & { readonly arrived: (bytes: number) => void; readonly peer: string; readonly idleTimeoutMs: number },
): Promise<void> {
  const object = block.file.target.object;
  const stream = await store.readRange(object, block.start + block.received, block.size - block.received, context.signal);
  const stall = () => new RangeInterrupted(context.peer, 'ETIMEDOUT', `no data from ${context.peer} for ${context.idleTimeoutMs} ms while reading ${object.name}`, { idle: true });
  const idle = setTimeout(() => stream.destroy(stall()), context.idleTimeoutMs);
  // Socket chunks are small (16-64 KiB); writing them in batches keeps file system calls few.
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = async () => {
    if (batched === 0) return;
    await writeBatch(handle, batch, block.start + block.received, block.file.target.path);
    block.received += batched;
    acceptWritten(block, batch);
    context.progress.advance(batched);
    batch = [];
    batched = 0;
    await block.file.hasher!.ready();
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      idle.refresh();
      const room = block.size - block.received - batched;
      batch.push(chunk.length <= room ? chunk : chunk.subarray(0, room));
      batched += Math.min(chunk.length, room);
      context.arrived(Math.min(chunk.length, room));
      if (batched >= WRITE_BATCH_BYTES) await flush();
    }
  } catch (error) {
    throw interruption(error, context.peer, object.name);
  } finally {
    clearTimeout(idle);
    // Bytes that arrived before a dropped connection are kept: the retry resumes after them.
    await flush();
  }
  if (block.received !== block.size) {
    throw new RangeInterrupted(context.peer, 'EPROTO_TRUNCATED', `the range of ${object.name} ended early at byte ${block.start + block.received}`);
  }
}

/** What broke a started range: our own stop and errors keep their type; the stream's failure is an interruption. */
function interruption(error: unknown, peer: string, name: string): unknown {
  if (error instanceof StoppedError || error instanceof TaskError || error instanceof RangeInterrupted) return error;
  const code = (error as NodeJS.ErrnoException)?.code ?? 'ECONNRESET';
  return new RangeInterrupted(peer, code, `the range of ${name} broke off (${(error as Error)?.message ?? error})`, { cause: error });
}

async function writeBatch(handle: FileHandle, batch: Buffer[], position: number, path: string): Promise<void> {
  try {
    await handle.writev(batch, position);
  } catch (error) {
    throw new TaskError('DownloadWriteFailed', [path, (error as NodeJS.ErrnoException).code ?? String(error)], { cause: error });
  }
}

const WRITE_BATCH_BYTES = 1024 * 1024;
