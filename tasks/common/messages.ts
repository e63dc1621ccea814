import { format as utilFormat } from 'node:util';
import catalog from './messages.json';

/**
 * The catalog of every user-facing string. Each task.json carries the same "messages" block
 * (scripts/sync-messages.mjs writes it; a unit test keeps them equal) so task-lib can localize.
 */
export type MessageKey = keyof typeof catalog;

export const messages: Readonly<Record<MessageKey, string>> = catalog;

/** English text, formatted as task-lib's loc() formats it (util.format). */
export function format(key: MessageKey, ...args: unknown[]): string {
  return utilFormat(messages[key], ...args);
}
