/**
 * The bookkeeping of a ranged download: blocks made as workers take them, the hash frontier that
 * lets each file be hashed in order while its blocks arrive out of order, and the budget that
 * bounds the blocks held in memory.
 */
import { mkdir, type FileHandle } from 'node:fs/promises';
import type { DownloadedFile, DownloadTarget } from './download';
import { waitFor } from './governor';
import type { FileHasher } from './hashing';

/** A byte range of one file, made only when a worker takes it: a huge object costs no memory up front. */
export interface Block {
  readonly file: FileState;
  readonly index: number;
  readonly start: number;
  readonly size: number;
  /** Bytes of the block written to the file. */
  received: number;
  done: boolean;
}

export interface FileState {
  readonly target: DownloadTarget;
  readonly folders: Folders;
  readonly blockCount: number;
  /** Blocks taken and not yet hashed, from the hash frontier on, in file order. */
  readonly live: Block[];
  hasher?: FileHasher;
  handle?: Promise<FileHandle>;
  finishing?: Promise<void>;
  /** Index of the first block not yet fully hashed: hashing runs strictly in file order. */
  frontier: number;
  finished?: DownloadedFile;
}

/** Every block of every file, in file order, made one at a time as workers take them. */
export class BlockQueue {
  readonly blocks: number;
  private file = 0;
  private block = 0;

  constructor(
    private readonly files: readonly FileState[],
    private readonly blockSize: number,
  ) {
    this.blocks = files.reduce((sum, file) => sum + file.blockCount, 0);
    this.skipFinishedFiles();
  }

  get empty(): boolean {
    return this.file >= this.files.length;
  }

  take(): Block | undefined {
    if (this.empty) return undefined;
    const file = this.files[this.file];
    const start = this.block * this.blockSize;
    const block: Block = { file, index: this.block, start, size: Math.min(this.blockSize, file.target.object.size - start), received: 0, done: false };
    file.live.push(block);
    this.block += 1;
    this.skipFinishedFiles();
    return block;
  }

  private skipFinishedFiles(): void {
    while (this.file < this.files.length && this.block >= this.files[this.file].blockCount) {
      this.file += 1;
      this.block = 0;
    }
  }
}

/** The folders one download made, so a model of many small files asks the file system once per folder. */
export class Folders {
  private readonly made = new Map<string, Promise<unknown>>();

  make(folder: string): Promise<unknown> {
    let making = this.made.get(folder);
    if (!making) {
      making = mkdir(folder, { recursive: true });
      this.made.set(folder, making);
    }
    return making;
  }
}

/** After `written` (the bytes just written) extended `block`: the frontier's block is hashed as far as it is written; others wait their turn. */
export function acceptWritten(block: Block, written: readonly Buffer[]): void {
  if (block.index === block.file.frontier) block.file.hasher!.advance(block.start + block.received, written);
}

/** Marks a block done and moves the file's hash frontier over every block that is now contiguous. */
export function completeBlock(block: Block, budget: BlockBudget): void {
  block.done = true;
  const file = block.file;
  while (file.live.length > 0) {
    const head = file.live[0];
    file.hasher!.advance(head.start + head.received);
    if (!head.done) break;
    budget.release();
    file.live.shift();
    file.frontier += 1;
  }
}

/**
 * Bounds the blocks taken but not yet hashed (in flight, or done and waiting for an earlier block),
 * so hashing, which reads them back in file order, never trails writing by more than about
 * concurrency x block size whatever the model size (they are still in the page cache).
 */
export class BlockBudget {
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
