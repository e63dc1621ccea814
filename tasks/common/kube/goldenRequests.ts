/**
 * Golden predictions, the pure part: the file of requests with their expected answers (a JSON array
 * or JSON Lines of `{path, method, body, expect, tolerance}`), and the comparison of an answer with
 * what was expected. A numeric `expect` matches within `tolerance`; objects match field by field
 * (fields the answer adds are allowed); arrays item by item; anything else must be equal.
 */
import { SettingError } from '../errors';

export interface GoldenRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  readonly body?: unknown;
  readonly expect: unknown;
  readonly tolerance: number;
  /** Where it was written: "line 3" or "item 2". */
  readonly where: string;
}

export interface GoldenSettings {
  readonly requests: readonly GoldenRequest[];
  /** The file they came from, for messages. */
  readonly source: string;
  /** The most the p95 latency of one pass may be. */
  readonly maxLatencyMs?: number;
  /** Per request. Default 10 s. */
  readonly timeoutMs?: number;
}

const FIELDS = new Set(['path', 'method', 'body', 'expect', 'tolerance']);
const METHODS = ['GET', 'POST', 'PUT'] as const;
/** A golden file is a handful of requests; more is a mistake (a data set, not a check). */
export const MAX_GOLDEN_REQUESTS = 1000;

function invalid(source: string, where: string, problem: string): SettingError<'goldenRequests'> {
  return new SettingError('goldenRequests', 'DeployGoldenFileInvalid', [source, where, problem]);
}

function request(entry: unknown, source: string, where: string): GoldenRequest {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid(source, where, 'each request is a JSON object {"path", "method", "body", "expect", "tolerance"}');
  const record = entry as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !FIELDS.has(key));
  if (unknown.length > 0) throw invalid(source, where, `unknown field(s) ${unknown.join(', ')}; a request has path, method, body, expect and tolerance`);
  const { path, method, body, expect, tolerance } = record;
  if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path)) throw invalid(source, where, '"path" must be an HTTP path that starts with \'/\' and has no spaces, for example "/score"');
  const verb = method === undefined ? (body === undefined ? 'GET' : 'POST') : typeof method === 'string' ? method.toUpperCase() : '';
  if (!(METHODS as readonly string[]).includes(verb)) throw invalid(source, where, `"method" must be one of ${METHODS.join(', ')}`);
  if (verb === 'GET' && body !== undefined) throw invalid(source, where, 'a GET request has no "body"; use "method": "POST"');
  if (!('expect' in record)) throw invalid(source, where, '"expect" is missing: the answer (or the fields of it) the model must give');
  if (tolerance !== undefined && (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0)) throw invalid(source, where, '"tolerance" must be a number, 0 or more');
  return Object.freeze({ method: verb as GoldenRequest['method'], path, body, expect, tolerance: (tolerance as number | undefined) ?? 0, where });
}

/** The requests of a golden file; a SettingError naming the file, the place and the problem otherwise. */
export function parseGoldenRequests(text: string, source: string): GoldenRequest[] {
  const trimmed = text.trim();
  if (trimmed === '') throw invalid(source, 'the file', 'it is empty; write a JSON array of requests, or one request per line (JSON Lines)');
  let entries: { value: unknown; where: string }[];
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw invalid(source, 'the file', `it is not valid JSON (${(error as Error).message})`);
    }
    entries = (parsed as unknown[]).map((value, index) => ({ value, where: `item ${index + 1}` }));
  } else {
    entries = text.split(/\r?\n/).flatMap((line, index) => {
      if (line.trim() === '') return [];
      try {
        return [{ value: JSON.parse(line) as unknown, where: `line ${index + 1}` }];
      } catch (error) {
        throw invalid(source, `line ${index + 1}`, `it is not valid JSON (${(error as Error).message})`);
      }
    });
  }
  if (entries.length === 0) throw invalid(source, 'the file', 'it holds no request');
  if (entries.length > MAX_GOLDEN_REQUESTS) throw invalid(source, 'the file', `it holds ${entries.length} requests; at most ${MAX_GOLDEN_REQUESTS}`);
  return entries.map(({ value, where }) => request(value, source, where));
}

export interface Mismatch {
  /** A JSON path into the answer: "$.predictions[0].probability". */
  readonly at: string;
  readonly expected: unknown;
  readonly actual: unknown;
}

/** The first place where `actual` differs from `expected`; undefined when it matches. */
export function compareAnswer(expected: unknown, actual: unknown, tolerance: number, at = '$'): Mismatch | undefined {
  if (typeof expected === 'number') {
    return typeof actual === 'number' && Math.abs(actual - expected) <= tolerance ? undefined : { at, expected, actual };
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return { at, expected, actual };
    for (let index = 0; index < expected.length; index += 1) {
      const mismatch = compareAnswer(expected[index], actual[index], tolerance, `${at}[${index}]`);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return { at, expected, actual };
    for (const [key, value] of Object.entries(expected)) {
      const mismatch = compareAnswer(value, (actual as Record<string, unknown>)[key], tolerance, `${at}.${key}`);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  return expected === actual ? undefined : { at, expected, actual };
}

/** The 95th percentile (nearest rank) of latencies in ms. */
export function p95(latencies: readonly number[]): number {
  if (latencies.length === 0) return 0;
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
}
