import { InputError } from '../errors';
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
