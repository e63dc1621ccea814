import { InputError } from '../errors';
import { isValidDigest } from '../oci/reference';
import type { InputReader } from './agent';

/**
 * Typed readers over task inputs. Each failure names the input, the value and what is accepted,
 * and happens before any work starts.
 */
export function requiredInput(reader: InputReader, name: string, when: string): string {
  const value = reader.input(name);
  if (value === undefined) throw new InputError(name, 'InputRequired', [name, when]);
  return value;
}

export function intInput(reader: InputReader, name: string, range: { min: number; max: number; fallback: number }): number {
  const text = reader.input(name);
  if (text === undefined) return range.fallback;
  if (!/^[+-]?\d+$/.test(text)) throw new InputError(name, 'InputNotInteger', [name, text, range.min, range.max]);
  const value = Number(text);
  if (value < range.min || value > range.max) throw new InputError(name, 'InputOutOfRange', [name, value, range.min, range.max]);
  return value;
}

export function boolInput(reader: InputReader, name: string, fallback: boolean): boolean {
  const text = reader.input(name);
  if (text === undefined) return fallback;
  if (/^true$/i.test(text)) return true;
  if (/^false$/i.test(text)) return false;
  throw new InputError(name, 'InputNotBoolean', [name, text]);
}

/** A pickList value; matched case-insensitively as the agent does, returned in canonical case. */
export function pickInput<T extends string>(reader: InputReader, name: string, allowed: readonly T[], fallback: T): T {
  const text = reader.input(name);
  if (text === undefined) return fallback;
  const match = allowed.find((option) => option.toLowerCase() === text.toLowerCase());
  if (!match) throw new InputError(name, 'InputNotInList', [name, text, allowed.join(', ')]);
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
