import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * In-order digests of one file: sha256 always, MD5 when the store publishes Content-MD5. The bytes
 * are read back from the file being written (the page cache holds them), so the received chunks
 * are never kept for hashing nor copied to the hashing thread: they die young, and the main thread
 * spends no time collecting or posting them.
 */
export interface FileHasher {
  /**
   * Hashes the file from where the last call stopped up to byte `end` (exclusive); those bytes are
   * written. `written`, when given, holds the bytes that end at `end`, for a hasher on this thread
   * to take from memory instead of reading back.
   */
  advance(end: number, written?: readonly Buffer[]): void;
  /** Resolves when the hashing work queued so far is small enough to queue more. */
  ready(): Promise<void>;
  digest(): Promise<{ sha256: string; md5?: string }>;
}

const READ_BYTES = 1024 * 1024;

/** Reads [position, end) of `fd` in pieces into `scratch` and hands each to `update`. */
function readInto(fd: number, position: number, end: number, scratch: Buffer, update: (bytes: Buffer) => void): void {
  while (position < end) {
    const read = readSync(fd, scratch, 0, Math.min(scratch.length, end - position), position);
    if (read === 0) throw new Error(`the file being hashed ended at byte ${position}, before byte ${end}`);
    update(scratch.subarray(0, read));
    position += read;
  }
}

let inlineScratch: Buffer | undefined;

/** Hashes on the calling thread (small files, where a second thread is not worth its messages), from memory where it can. */
export function inlineHasher(fd: number, md5: boolean): FileHasher {
  const sha = createHash('sha256');
  const md = md5 ? createHash('md5') : undefined;
  let hashed = 0;
  return {
    advance(end, written) {
      if (end <= hashed) return;
      const update = (bytes: Buffer) => {
        sha.update(bytes);
        md?.update(bytes);
      };
      if (written && end - written.reduce((sum, chunk) => sum + chunk.length, 0) === hashed) written.forEach(update);
      else readInto(fd, hashed, end, (inlineScratch ??= Buffer.allocUnsafe(READ_BYTES)), update);
      hashed = end;
    },
    ready: () => Promise.resolve(),
    digest: async () => ({ sha256: sha.digest('hex'), md5: md?.digest('base64') }),
  };
}

// The worker's whole program: per file id, reads the written bytes back in order and hashes them;
// acknowledges bytes so the sender can pace itself. A failed read ends the thread ('error' below).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const scratch = Buffer.allocUnsafe(${READ_BYTES});
const files = new Map();
parentPort.on('message', (message) => {
  if (message.type === 'open') {
    files.set(message.id, { fd: message.fd, hashed: 0, sha: createHash('sha256'), md: message.md5 ? createHash('md5') : undefined });
  } else if (message.type === 'advance') {
    const file = files.get(message.id);
    const from = file.hashed;
    while (file.hashed < message.end) {
      const read = readSync(file.fd, scratch, 0, Math.min(scratch.length, message.end - file.hashed), file.hashed);
      if (read === 0) throw new Error('the file being hashed ended at byte ' + file.hashed + ', before byte ' + message.end);
      const bytes = scratch.subarray(0, read);
      file.sha.update(bytes);
      if (file.md) file.md.update(bytes);
      file.hashed += read;
    }
    parentPort.postMessage({ type: 'ack', bytes: file.hashed - from });
  } else if (message.type === 'digest') {
    const file = files.get(message.id);
    files.delete(message.id);
    parentPort.postMessage({ type: 'digest', id: message.id, sha256: file.sha.digest('hex'), md5: file.md ? file.md.digest('base64') : undefined });
  }
});
`;

/** Hashing may lag this far behind writing: the bytes wait in the page cache, not in our memory. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * Hashes on a second thread so that SHA-256 and MD5 (about 0.6 s per GiB and 1.4 s per GiB here)
 * overlap with receiving and writing instead of adding to them. The thread reads the file through
 * the descriptor the downloader writes with; the downloader closes it only after the digest (or
 * after `close`, when a download fails).
 */
export class HashingThread {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });
  private queued = 0;
  private nextId = 0;
  private readonly digests = new Map<number, { resolve: (value: { sha256: string; md5?: string }) => void; reject: (error: Error) => void }>();
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;

  constructor() {
    this.worker.on('message', (message: { type: string; id: number; bytes: number; sha256: string; md5?: string }) => {
      if (message.type === 'ack') {
        this.queued -= message.bytes;
        if (this.queued <= MAX_QUEUED_BYTES) this.waiters.splice(0).forEach((wake) => wake());
      } else {
        this.digests.get(message.id)?.resolve({ sha256: message.sha256, md5: message.md5 });
        this.digests.delete(message.id);
      }
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the hashing thread stopped (exit code ${code})`)));
  }

  hasher(fd: number, md5: boolean): FileHasher {
    const id = this.nextId++;
    let sent = 0;
    this.worker.postMessage({ type: 'open', id, fd, md5 });
    return {
      advance: (end) => {
        if (end <= sent) return;
        this.queued += end - sent;
        sent = end;
        this.worker.postMessage({ type: 'advance', id, end });
      },
      ready: () => this.ready(),
      digest: () => {
        if (this.failure) return Promise.reject(this.failure);
        return new Promise((resolve, reject) => {
          this.digests.set(id, { resolve, reject });
          this.worker.postMessage({ type: 'digest', id });
        });
      },
    };
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.waiters.splice(0).forEach((wake) => wake());
    for (const pending of this.digests.values()) pending.reject(this.failure);
    this.digests.clear();
  }

  private async ready(): Promise<void> {
    while (this.queued > MAX_QUEUED_BYTES && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  /** Stops the thread; once this resolves it reads no descriptor any more. */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
