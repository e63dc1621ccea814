import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isTransient, RemoteError } from '../errors';
import type { Log, Progress } from '../log';
import { ConcurrencyGovernor, waitFor } from './governor';
import { HashingThread, inlineHasher, type FileHasher } from './hashing';
import type { ModelStore, StoredObject } from './store';

export interface DownloadSettings {
  readonly concurrency: number;
  readonly blockSize: number;
  readonly retries: number;
  /** Compute MD5 too, for objects whose store reports Content-MD5. */
  readonly md5: boolean;
  /** A range that sends nothing for this long is dropped and resumed. */
  readonly idleTimeoutMs: number;
  /** First retry delay; doubles per attempt. */
  readonly retryDelayMs: number;
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

/** A byte range of one file. Chunks of blocks ahead of the hash frontier wait in memory. */
interface Block {
  readonly file: FileState;
  readonly index: number;
  readonly start: number;
  readonly size: number;
  received: number;
  done: boolean;
  pending: Buffer[];
}

interface FileState {
  readonly target: DownloadTarget;
  readonly blocks: Block[];
  readonly hasher: FileHasher;
  handle?: Promise<FileHandle>;
  finishing?: Promise<void>;
  /** Index of the first block not yet fully hashed: hashing runs strictly in file order. */
  frontier: number;
  finished?: DownloadedFile;
}

/**
 * Downloads files with parallel ranged requests straight to disk, hashing while the bytes arrive
 * (in order, so no second pass), resuming a range where a dropped connection left it.
 */
export async function downloadFiles(
  store: ModelStore,
  targets: readonly DownloadTarget[],
  settings: DownloadSettings,
  context: { readonly signal: AbortSignal; readonly log: Log; readonly progress: Progress },
): Promise<DownloadedFile[]> {
  const thread = targets.some((target) => target.object.size >= THREADED_HASH_BYTES) ? new HashingThread() : undefined;
  const files = targets.map((target) => planFile(target, settings, thread));
  const queue = files.flatMap((file) => file.blocks);
  const budget = new BlockBudget(settings.concurrency);
  const governor = new ConcurrencyGovernor(settings.concurrency);
  const failure = new AbortController();
  const signal = AbortSignal.any([context.signal, failure.signal]);
  let next = 0;

  const meter = { ...context.progress, advance: (bytes: number) => (governor.received(bytes), context.progress.advance(bytes)) };
  const worker = async (index: number) => {
    while (next < queue.length && !signal.aborted) {
      await governor.admit(index, signal);
      // Reserve before taking a block, so blocks are always held in file order and the hash
      // frontier's block is never the one left waiting for room.
      await budget.reserve(signal);
      if (next >= queue.length || signal.aborted) {
        budget.release();
        break;
      }
      const block = queue[next++];
      await fetchBlock(store, block, settings, signal, { log: context.log, progress: meter });
      completeBlock(block, budget);
      if (block.file.frontier === block.file.blocks.length) await finishFile(block.file);
    }
    governor.stop(); // nothing left to take: let the workers the governor held back finish too
  };
  try {
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, Math.max(queue.length, 1)) }, (_, index) => worker(index).catch((error) => {
      failure.abort(error);
      throw error;
    })));
    for (const file of files) await finishFile(file);
    context.log.debug(`downloaded with up to ${governor.allowed} parallel ranged requests`);
    return files.map((file) => file.finished!);
  } finally {
    await Promise.allSettled(files.map(async (file) => (await file.handle)?.close()));
    governor.stop();
    await thread?.close();
  }
}

/** Files this large are hashed on a second thread; small ones are not worth the messages. */
const THREADED_HASH_BYTES = 8 * 1024 * 1024;

function planFile(target: DownloadTarget, settings: DownloadSettings, thread: HashingThread | undefined): FileState {
  // MD5 costs 2.3x SHA-256 here; a published sha256 is the stronger check, so MD5 only stands in for it.
  const md5 = settings.md5 && target.object.contentMd5 !== undefined && target.object.sha256Metadata === undefined;
  const file: FileState = {
    target,
    blocks: [],
    hasher: thread && target.object.size >= THREADED_HASH_BYTES ? thread.hasher(md5) : inlineHasher(md5),
    frontier: 0,
  };
  for (let start = 0, index = 0; start < target.object.size; start += settings.blockSize, index++) {
    const size = Math.min(settings.blockSize, target.object.size - start);
    file.blocks.push({ file, index, start, size, received: 0, done: false, pending: [] });
  }
  return file;
}

function handleOf(file: FileState): Promise<FileHandle> {
  file.handle ??= mkdir(dirname(file.target.path), { recursive: true }).then(() => open(file.target.path, 'w'));
  return file.handle;
}

/** Closes a fully hashed file once, however many workers see it complete. */
function finishFile(file: FileState): Promise<void> {
  file.finishing ??= (async () => {
    const digests = await file.hasher.digest();
    const handle = await handleOf(file);
    file.handle = undefined;
    await handle.close();
    file.finished = { path: file.target.path, size: file.target.object.size, ...digests };
  })();
  return file.finishing;
}

/** Fetches one block, resuming after the last byte written when a connection drops. */
async function fetchBlock(
  store: ModelStore,
  block: Block,
  settings: DownloadSettings,
  signal: AbortSignal,
  context: { readonly log: Log; readonly progress: Progress },
): Promise<void> {
  const handle = await handleOf(block.file);
  for (let attempt = 0; ; attempt++) {
    try {
      await streamRange(store, block, handle, settings.idleTimeoutMs, signal, context.progress);
      return;
    } catch (error) {
      if (signal.aborted || !isTransient(error)) throw error;
      if (attempt >= settings.retries) throw new RemoteError('DownloadFailed', [block.file.target.object.name, attempt + 1, (error as Error).message], { cause: error });
      const delay = Math.min(settings.retryDelayMs * 2 ** attempt, 30_000) * (0.75 + Math.random() / 2);
      context.log.debug(`range ${block.start + block.received}-${block.start + block.size - 1} of ${block.file.target.object.name} failed (${(error as Error).message}); resuming in ${Math.round(delay)} ms`);
      context.log.info('DownloadResuming', block.file.target.object.name, attempt + 1, settings.retries);
      await sleep(delay, signal);
    }
  }
}

async function streamRange(store: ModelStore, block: Block, handle: FileHandle, idleTimeoutMs: number, signal: AbortSignal, progress: Progress): Promise<void> {
  const object = block.file.target.object;
  const stream = await store.readRange(object, block.start + block.received, block.size - block.received, signal);
  const idle = setTimeout(() => stream.destroy(Object.assign(new Error(`no data for ${idleTimeoutMs} ms`), { code: 'ETIMEDOUT' })), idleTimeoutMs);
  // Socket chunks are small (16-64 KiB); writing them in batches keeps file system calls few.
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = async () => {
    if (batched === 0) return;
    await handle.writev(batch, block.start + block.received);
    block.received += batched;
    for (const chunk of batch) acceptChunk(block, chunk);
    progress.advance(batched);
    batch = [];
    batched = 0;
    await block.file.hasher.ready();
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      idle.refresh();
      const room = block.size - block.received - batched;
      batch.push(chunk.length <= room ? chunk : chunk.subarray(0, room));
      batched += Math.min(chunk.length, room);
      if (batched >= WRITE_BATCH_BYTES) await flush();
    }
  } finally {
    clearTimeout(idle);
    // Bytes that arrived before a dropped connection are kept: the retry resumes after them.
    await flush();
  }
  if (block.received !== block.size) {
    throw Object.assign(new Error(`range ended early at ${block.start + block.received} of ${object.name}`), { code: 'ECONNRESET' });
  }
}

const WRITE_BATCH_BYTES = 1024 * 1024;

function acceptChunk(block: Block, chunk: Buffer): void {
  if (block.index === block.file.frontier) hashChunk(block.file, chunk);
  else block.pending.push(chunk);
}

function hashChunk(file: FileState, chunk: Buffer): void {
  file.hasher.update(chunk);
}

/** Marks a block done and moves the file's hash frontier over every block that is now contiguous. */
function completeBlock(block: Block, budget: BlockBudget): void {
  block.done = true;
  const file = block.file;
  while (file.frontier < file.blocks.length) {
    const head = file.blocks[file.frontier];
    for (const chunk of head.pending) hashChunk(file, chunk);
    head.pending = [];
    if (!head.done) break;
    budget.release();
    file.frontier += 1;
  }
}

/**
 * Bounds the blocks taken but not yet hashed (in flight, or done and waiting for an earlier block),
 * so memory stays at most about concurrency x block size whatever the model size.
 */
class BlockBudget {
  private used = 0;
  private waiters: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async reserve(signal: AbortSignal): Promise<void> {
    while (this.used >= this.limit && !signal.aborted) {
      await waitFor(this.waiters, signal);
    }
    this.used += 1;
  }

  release(): void {
    this.used -= 1;
    this.waiters.splice(0).forEach((wake) => wake());
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal.addEventListener('abort', abort, { once: true });
  });
}
