import { InputError } from './inputError';
import { isValidDigest } from '../oci/reference';
import type { InputReader } from './agent';

/**
 * Typed readers over task inputs. Each failure names the input, the value and what is accepted,
 * and happens before any work starts.
 */
/**
 * An input as the generated contract describes it (tasks/common/contract/, from task.json): its
 * name, pick-list values and default. Readers take the descriptor, so a renamed input is a compile
 * error and a default lives in task.json alone.
 */
export interface InputSpec {
  readonly name: string;
  readonly default?: string | number | boolean;
  readonly options?: readonly string[];
}

type Named = string | InputSpec;

function nameOf(input: Named): string {
  return typeof input === 'string' ? input : input.name;
}

function defaultOf<T>(input: Named, kind: 'number' | 'boolean' | 'string'): T | undefined {
  return typeof input === 'object' && typeof input.default === kind ? (input.default as T) : undefined;
}

/** The trimmed value, else task.json's default; undefined when neither is set. */
export function textInput(reader: InputReader, input: Named): string | undefined {
  return reader.input(nameOf(input)) ?? defaultOf<string>(input, 'string');
}

export function requiredInput(reader: InputReader, input: Named, when: string): string {
  const value = reader.input(nameOf(input));
  if (value === undefined) throw new InputError(nameOf(input), 'InputRequired', [nameOf(input), when]);
  return value;
}

/** task.json types some whole-number inputs 'string' (Bake's retries: '5'); their default is a number all the same. */
function wholeNumberDefault(input: Named): number | undefined {
  const text = defaultOf<string>(input, 'string');
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : defaultOf<number>(input, 'number');
}

/** An integer within range; empty means range.fallback, else task.json's default. */
export function intInput(reader: InputReader, input: Named, range: { min: number; max: number; fallback?: number }): number {
  const name = nameOf(input);
  const text = reader.input(name);
  const fallback = range.fallback ?? wholeNumberDefault(input);
  if (text === undefined) {
    if (fallback === undefined) throw new InputError(name, 'InputRequired', [name, `it has no default; give a whole number from ${range.min} to ${range.max}`]);
    return fallback;
  }
  if (!/^[+-]?\d+$/.test(text)) throw new InputError(name, 'InputNotInteger', [name, text, range.min, range.max]);
  const value = Number(text);
  if (value < range.min || value > range.max) throw new InputError(name, 'InputOutOfRange', [name, value, range.min, range.max]);
  return value;
}

export function boolInput(reader: InputReader, input: Named, fallback?: boolean): boolean {
  const name = nameOf(input);
  const text = reader.input(name);
  if (text === undefined) return fallback ?? defaultOf<boolean>(input, 'boolean') ?? false;
  if (/^true$/i.test(text)) return true;
  if (/^false$/i.test(text)) return false;
  throw new InputError(name, 'InputNotBoolean', [name, text]);
}

/** A pickList value; matched case-insensitively as the agent does, returned in canonical case. */
export function pickInput<const T extends string>(reader: InputReader, input: { readonly name: string; readonly options: readonly T[]; readonly default?: NoInfer<T> }): T;
export function pickInput<T extends string>(reader: InputReader, input: Named, allowed: readonly T[], fallback: T): T;
export function pickInput<T extends string>(reader: InputReader, input: Named, allowed?: readonly T[], fallback?: T): T {
  const name = nameOf(input);
  const options = allowed ?? ((input as InputSpec).options as readonly T[]);
  const text = reader.input(name);
  if (text === undefined) {
    const value = fallback ?? defaultOf<T>(input, 'string');
    if (value === undefined) throw new InputError(name, 'InputRequired', [name, `choose one of ${options.join(', ')}`]);
    return value;
  }
  const match = options.find((option) => option.toLowerCase() === text.toLowerCase());
  if (!match) throw new InputError(name, 'InputNotInList', [name, text, options.join(', ')]);
  return match;
}

/** One item per line (commas also separate, as in Microsoft's Docker task); blanks ignored. */
export function listInput(reader: InputReader, name: string): string[] {
  return (reader.input(name) ?? '').split(/[\n,]/).map((line) => line.trim()).filter(Boolean);
}

/** KEY=VALUE per line; the value may hold '=' and ','. */
export function keyValueInput(reader: InputReader, name: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const line of (reader.input(name) ?? '').split('\n').map((text) => text.trim()).filter(Boolean)) {
    const match = /^([^=\s]+)=(.*)$/.exec(line);
    if (!match) throw new InputError(name, 'InputInvalid', [name, line, 'expected one KEY=VALUE per line']);
    pairs[match[1]] = match[2];
  }
  return pairs;
}

/** As Fetch Latest Model outputs it: what Bake records in the image and Deploy on the pods. */
export function modelVersionInput(reader: InputReader): string | undefined {
  const value = reader.input('modelVersion');
  if (value !== undefined && !/^[\x21-\x7e]{1,128}$/.test(value)) throw new InputError('modelVersion', 'InputInvalid', ['modelVersion', value, 'expected up to 128 printable characters without spaces']);
  return value;
}

export function modelDigestInput(reader: InputReader): string | undefined {
  const value = reader.input('modelDigest');
  if (value !== undefined && !isValidDigest(value)) throw new InputError('modelDigest', 'InputInvalid', ['modelDigest', value, 'expected sha256: and 64 lower-case hex characters, as Fetch Latest Model outputs']);
  return value;
}
