/**
 * Small helpers for core tests: a Log that keeps every line as the agent would print it, and the
 * error a promise rejects with.
 */
import { strict as assert } from 'node:assert';
import type { Log } from '../../tasks/common/log';
import { format, type MessageKey } from '../../tasks/common/messages';

/** A Log that keeps every line, formatted as the agent would print it. */
export function capturingLog(lines: string[]): Log {
  return {
    info: (key: MessageKey, ...args: unknown[]) => void lines.push(format(key, ...args)),
    warn: (key: MessageKey, ...args: unknown[]) => void lines.push(format(key, ...args)),
    debug: (text: string) => void lines.push(text),
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
