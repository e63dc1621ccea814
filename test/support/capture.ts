/**
 * Small helpers for core tests: the one recording Log (every line as the agent would print it,
 * through the same output boundary, and every entry by key), and the error a promise rejects with.
 * For a silent Progress, use silentProgress from tasks/common/log.ts.
 */
import { strict as assert } from 'node:assert';
import type { Log } from '../../tasks/common/log';
import { format, type MessageKey } from '../../tasks/common/messages';
import { safeArgument, safeLines } from '../../tasks/common/pipeline/output';

export interface RecordingLog extends Log {
  /** Every line as printed: warnings start with 'WARNING ', debug lines with 'DEBUG '. */
  readonly lines: string[];
  /** info and warn calls by key, with their arguments as given. */
  readonly entries: { readonly level: 'info' | 'warn'; readonly key: MessageKey; readonly args: readonly unknown[] }[];
  readonly debugs: string[];
}

/** A catalog message as the agent prints it: arguments and the whole line through the output boundary. */
export function printed(key: MessageKey, args: readonly unknown[]): string {
  return safeLines(format(key, ...args.map(safeArgument)));
}

/** A Log that keeps what it is told; `lines` may be shared with a caller that collects them. */
export function recordingLog(lines: string[] = []): RecordingLog {
  const entries: RecordingLog['entries'] = [];
  const debugs: string[] = [];
  return {
    lines,
    entries,
    debugs,
    info: (key: MessageKey, ...args: unknown[]) => {
      entries.push({ level: 'info', key, args });
      lines.push(printed(key, args));
    },
    warn: (key: MessageKey, ...args: unknown[]) => {
      entries.push({ level: 'warn', key, args });
      lines.push(`WARNING ${printed(key, args)}`);
    },
    debug: (text: string) => {
      debugs.push(text);
      lines.push(`DEBUG ${text}`);
    },
  };
}

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  return assert.fail('expected a rejection');
}
