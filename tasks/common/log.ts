import type { MessageKey } from './messages';

/** How the core speaks to the user. The pipeline layer localizes keys through task-lib. */
export interface Log {
  info(key: MessageKey, ...args: unknown[]): void;
  warn(key: MessageKey, ...args: unknown[]): void;
  /** Diagnostic text for System.Debug; never user-facing, never localized. */
  debug(text: string): void;
}

/** Byte progress of one long transfer. The pipeline layer turns it into steady log lines. */
export interface Progress {
  start(label: string, totalBytes: number): void;
  advance(bytes: number): void;
  finish(): void;
}

export const silentLog: Log = { info() {}, warn() {}, debug() {} };
export const silentProgress: Progress = { start() {}, advance() {}, finish() {} };

/**
 * Lines meant to stay lines (a diagnostics block) inside a message argument. Every other argument
 * is printed on one line: the output boundary escapes the line breaks of plain strings, because a
 * peer's text must never start a line of its own. Each line here is still neutralized.
 */
export class TextBlock {
  constructor(readonly lines: readonly string[]) {}

  toString(): string {
    return this.lines.join('\n');
  }
}
