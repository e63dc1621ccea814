/**
 * How long a task may run, and what it must not leave behind. The signal aborts when the agent
 * cancels the job (SIGINT, then SIGTERM) or when the task's own deadline passes; every network
 * call, pause and transfer listens to it. Tracked paths (temporary credentials, staging folders,
 * build-context copies) are removed however the task ends, a cancel included.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoppedError } from './net/errors';

export interface Lifetime {
  readonly signal: AbortSignal;
  /** A new folder under the agent's temporary folder, removed when the task ends. */
  scratchFolder(prefix: string): string;
  /** Removes `path` when the task ends, unless the returned release is called first. */
  track(path: string): () => void;
}

/** A lifetime whose cleanup its owner runs: the task runner, or a test. */
export class OwnedLifetime implements Lifetime {
  private readonly controller = new AbortController();
  private readonly tracked = new Set<string>();
  readonly signal: AbortSignal = this.controller.signal;

  constructor(private readonly temporaryRoot: string = tmpdir()) {}

  scratchFolder(prefix: string): string {
    const folder = mkdtempSync(join(this.temporaryRoot, `${prefix.replace(/[^A-Za-z0-9-]/g, '-')}-`));
    this.tracked.add(folder);
    return folder;
  }

  track(path: string): () => void {
    this.tracked.add(path);
    return () => this.tracked.delete(path);
  }

  cancel(reason: string): void {
    this.controller.abort(new StoppedError('cancelled', reason));
  }

  /** Synchronous, so it also runs from a signal handler that is about to exit. Returns how many paths went. */
  removeTracked(): number {
    let removed = 0;
    for (const path of this.tracked) {
      try {
        rmSync(path, { recursive: true, force: true });
        removed += 1;
      } catch {
        // Best effort: the agent's temporary folder is emptied after the job anyway.
      }
    }
    this.tracked.clear();
    return removed;
  }
}

/** A signal that aborts with the lifetime, or when `ms` pass, whichever comes first. */
export function withDeadline(signal: AbortSignal, ms: number, what: string): AbortSignal {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new StoppedError('deadline', `${what} did not finish within ${Math.round(ms / 1000)} seconds`)), Math.min(ms, 2 ** 31 - 1));
  timer.unref();
  return AbortSignal.any([signal, deadline.signal]);
}

/**
 * Undoing a half-done change after a cancel or a deadline: a few API calls. Short enough to end
 * before the agent's second signal (it sends SIGTERM 7.5 s after SIGINT, and runTask exits on it).
 */
export const CLEANUP_BUDGET_MS = 7_000;

/** A signal for clean-up that must run although the task's signal aborted: its own short deadline, nothing else. */
export function cleanupSignal(what: string, ms: number = CLEANUP_BUDGET_MS): AbortSignal {
  return withDeadline(new AbortController().signal, ms, what);
}
