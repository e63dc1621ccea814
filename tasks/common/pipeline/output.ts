/**
 * The output boundary. The agent acts on any `##vso[` in a line of output (and on `##[` at a
 * line's start), so text that came from a peer (a blob name, a tag, a registry's error body, a
 * Kubernetes event) must never carry one, and must never start a line of its own. Everything the
 * tasks print passes through here: log lines, warnings, errors, progress labels, output values and
 * the run summary.
 */
import { TextBlock } from '../log';

/** Line breaks of every kind, and the other control characters a terminal or the agent would act on. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g;
/** `##vso[` anywhere and `##[` anywhere, whatever the case: the agent's command prefixes. */
const COMMAND = /##(vso)?\[/gi;
const HAS_COMMAND = /##(vso)?\[/i;

function escapeControl(character: string): string {
  switch (character) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    default:
      return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/** Defuses the agent's command prefixes: `##vso[` becomes `#\#vso[`, inert but still readable. */
export function defuseCommands(text: string): string {
  return text.replace(COMMAND, (match) => `#\\#${match.slice(2)}`);
}

/** Peer text made safe to print inside a line: control characters escaped, commands defused. */
export function neutralize(text: string): string {
  return defuseCommands(text.replace(CONTROL, escapeControl));
}

/** A message argument as it may be printed; a TextBlock keeps its own line breaks, each line neutralized. */
export function safeArgument(value: unknown): unknown {
  if (value instanceof TextBlock) return value.lines.map(neutralize).join('\n');
  if (typeof value === 'string') return neutralize(value);
  if (value instanceof Error) return neutralize(value.message);
  return value;
}

/** A finished line (ours, with neutralized arguments) checked once more as a whole: arguments side by side can form a prefix. */
export function safeLines(text: string): string {
  return text.split('\n').map((line) => defuseCommands(line.replace(/\r/g, ''))).join('\n');
}

/** Whether an output variable's value can be set: it may not start a line or carry a command. */
export function outputValueProblem(value: string): string | undefined {
  if (/[\r\n\u2028\u2029]/.test(value)) return 'it holds a line break';
  if (HAS_COMMAND.test(value)) return 'it holds an agent command prefix (##vso[ or ##[)';
  return undefined;
}
