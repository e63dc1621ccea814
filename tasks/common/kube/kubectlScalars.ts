/**
 * Plain YAML scalars resolved as kubectl resolves them. kubectl reads manifests with
 * sigs.k8s.io/yaml, whose go-yaml v2 follows YAML 1.1: `0644` is the octal 420, `yes`, `on` and `y`
 * are true, `no`, `off` and `n` are false. js-yaml follows YAML 1.2, where `0644` is the decimal 644
 * and `yes` is text: a `defaultMode: 0644` would reach the API server as 644 (rejected) and `0400`
 * as 400 (rw--w----). `resolvePlain` is go-yaml v2's resolve() for an untyped target, rule by rule;
 * test/integration/kubectl-yaml.test.ts holds every row against the real kubectl.
 */
import * as yaml from 'js-yaml';

export type PlainScalar =
  | { readonly tag: 'null'; readonly value: null }
  | { readonly tag: 'bool'; readonly value: boolean }
  | { readonly tag: 'int' | 'float'; readonly value: number | UnsafeInteger }
  | { readonly tag: 'str'; readonly value: string };

/** An integer kubectl would send exactly but a JavaScript number cannot hold (beyond 2^53). */
export class UnsafeInteger {
  constructor(readonly text: string) {}
}

const WORDS: ReadonlyMap<string, PlainScalar> = new Map<string, PlainScalar>([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'].map((word) => [word, { tag: 'bool', value: true }] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'].map((word) => [word, { tag: 'bool', value: false }] as const),
  ...['', '~', 'null', 'Null', 'NULL'].map((word) => [word, { tag: 'null', value: null }] as const),
  ...['.nan', '.NaN', '.NAN'].map((word) => [word, { tag: 'float', value: Number.NaN }] as const),
  ...['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'].map((word) => [word, { tag: 'float', value: Number.POSITIVE_INFINITY }] as const),
  ...['-.inf', '-.Inf', '-.INF'].map((word) => [word, { tag: 'float', value: Number.NEGATIVE_INFINITY }] as const),
]);

/** go-yaml's yamlStyleFloat: what it hands to strconv.ParseFloat after the integer parsers fail. */
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
/** Go's ParseFloat syntax for what starts with a dot (no hex, no underscores). */
const DOT_FLOAT = /^\.[0-9]+([eE][-+]?[0-9]+)?$/;
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Go's strconv.ParseInt(text, 0, 64) (signed) or ParseUint (no sign), as a bigint. */
function goInteger(text: string, signed: boolean): bigint | undefined {
  const match = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!match || (!signed && match[1])) return undefined;
  const digits = match[2];
  // BigInt reads 0x, 0o and 0b itself; Go's leading-zero octal needs the 0o spelled out.
  const magnitude = BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits.replace(/^0([XOB])/, (_, base: string) => `0${base.toLowerCase()}`));
  const value = match[1] === '-' ? -magnitude : magnitude;
  const [low, high] = signed ? [-INT64_MAX - 1n, INT64_MAX] : [0n, UINT64_MAX];
  return value >= low && value <= high ? value : undefined;
}

function integer(value: bigint, text: string): PlainScalar {
  const safe = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
  return { tag: 'int', value: safe ? Number(value) : new UnsafeInteger(text) };
}

/** What kubectl makes of a plain (unquoted, untagged) scalar. */
export function resolvePlain(text: string): PlainScalar {
  const word = WORDS.get(text);
  if (word) return word;
  if (text.startsWith('.')) return DOT_FLOAT.test(text) ? { tag: 'float', value: Number(text) } : { tag: 'str', value: text };
  if (!/^[-+0-9]/.test(text)) return { tag: 'str', value: text };
  // Timestamps stay text for an untyped target; underscores are dropped before the number parsers.
  const plain = text.replace(/_/g, '');
  const whole = goInteger(plain, true) ?? goInteger(plain, false);
  if (whole !== undefined) return integer(whole, text);
  if (YAML_STYLE_FLOAT.test(plain)) return { tag: 'float', value: Number(plain) };
  return { tag: 'str', value: text };
}

/** `accepts` lists the resolutions the tag takes: an explicit `!!float 1` is a float, as in go-yaml. */
function scalarType(tag: 'null' | 'bool' | 'int' | 'float', predicate: (value: unknown) => boolean, accepts: readonly string[] = [tag]): yaml.Type {
  return new yaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (data: string | null) => accepts.includes(resolvePlain(data ?? '').tag),
    construct: (data: string | null) => resolvePlain(data ?? '').value,
    predicate,
  });
}

const mergeType = (yaml as unknown as { types: { merge: yaml.Type } }).types.merge;

/** kubectl's YAML: YAML 1.1 scalars as go-yaml v2 resolves them, timestamps as text, merge keys. */
export const KUBECTL_SCHEMA = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalarType('null', (value) => value === null),
    scalarType('bool', (value) => typeof value === 'boolean'),
    scalarType('int', (value) => value instanceof UnsafeInteger || Number.isInteger(value)),
    scalarType('float', (value) => typeof value === 'number', ['float', 'int']),
    mergeType,
  ],
});
