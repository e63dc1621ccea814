import { format as utilFormat } from 'node:util';
import catalog from './messages.json';

/**
 * The catalog of every user-facing string. Each task.json carries the same "messages" block
 * (scripts/sync-messages.mjs writes it; a unit test keeps them equal) so task-lib can localize.
 */
export type MessageKey = keyof typeof catalog;

export const messages: Readonly<Record<MessageKey, string>> = catalog;

/**
 * Where a message names the task input a failure is about: in the template's text, or as an
 * argument. The core never knows the input; pipeline/ fills the slot in (pipeline/settings.ts).
 */
export const INPUT_SLOT = '{input}';

/**
 * An argument naming the input of another setting than the failure's own, for a failure that came
 * through several inputs (a cluster's credentials: the connection, resource group and cluster).
 * pipeline/ fills it in as it fills INPUT_SLOT; the core shows it as it is.
 */
export function settingSlot(setting: string): string {
  return `{input:${setting}}`;
}

/** The setting a settingSlot argument names; undefined for any other argument. */
export function slotSetting(arg: unknown): string | undefined {
  return typeof arg === 'string' ? /^\{input:([A-Za-z][\w.-]*)\}$/.exec(arg)?.[1] : undefined;
}

/**
 * A template formatted as task-lib's loc() formats it (util.format), with `input` in its slot: only
 * in the template and in slot arguments, never inside an argument's own text.
 */
export function formatTemplate(template: string, args: readonly unknown[], input?: string): string {
  if (input === undefined) return utilFormat(template, ...args);
  return utilFormat(template.replaceAll(INPUT_SLOT, input), ...args.map((arg) => (arg === INPUT_SLOT ? input : arg)));
}

/** English text of a catalog message. */
export function format(key: MessageKey, ...args: unknown[]): string {
  return formatTemplate(messages[key], args);
}
