import { SettingError, INPUT_SLOT } from '../errors';
import type { ModelSetting } from './settings';

/**
 * Validates a blob index tag expression before it reaches the service, so a typo fails with a
 * message that points at the spot instead of a bare 400. Grammar (Azure "Find Blobs by Tags"):
 *   condition ( AND condition )*,  condition = "key" op 'value' | @container = 'name',
 *   op one of = > >= < <=,  at most 10 conditions.
 * Stores without a server-side tag query (S3 object tags, Azure ML version tags) evaluate the same
 * expression themselves with matchesTagQuery, so one tagQuery works whichever store is chosen.
 */
const CONDITION = /^\s*("([^"]{1,128})"|@container)\s*(>=|<=|=|>|<)\s*'([^']{0,256})'\s*/;
const TAG_CHARACTERS = /^[A-Za-z0-9 +\-./:=_]*$/;
const EXAMPLE = `"stage" = 'production' AND "approved" = 'true'`;

export type TagOperator = '=' | '>' | '>=' | '<' | '<=';

/** One condition; `key` undefined means @container. */
export interface TagCondition {
  readonly key: string | undefined;
  readonly operator: TagOperator;
  readonly value: string;
}

/**
 * What is wrong with a query, as the failure to report, or undefined when Azure would take it.
 * Pure: the input reader checks a query with it before any work starts and names its input.
 */
export function tagQueryProblem(query: string): SettingError<ModelSetting> | undefined {
  const read = conditionsOf(query);
  return typeof read === 'string' ? invalid(query, read) : undefined;
}

/** The conditions of a query; its tagQueryProblem when it has one. */
export function parseTagQuery(query: string): TagCondition[] {
  const read = conditionsOf(query);
  if (typeof read === 'string') throw invalid(query, read);
  return read;
}

function invalid(query: string, problem: string): SettingError<ModelSetting> {
  return new SettingError<ModelSetting>('tagQuery', 'InputInvalid', [INPUT_SLOT, query, problem]);
}

/** The conditions, or what is wrong and where, with an example. */
function conditionsOf(query: string): TagCondition[] | string {
  let rest = query.trim();
  const conditions: TagCondition[] = [];
  while (true) {
    const match = CONDITION.exec(rest);
    if (!match) return problem(rest, /^\s*[A-Za-z_][\w-]*\s*(=|<|>)/.test(rest) ? 'put the tag name in double quotes' : 'expected "tag" operator \'value\'');
    const [whole, , key, operator, value] = match;
    if (key !== undefined && !TAG_CHARACTERS.test(key)) return problem(rest, `tag name "${key}" has characters tags cannot hold`);
    if (!TAG_CHARACTERS.test(value)) return problem(rest, `value '${value}' has characters tags cannot hold`);
    if (key === undefined && operator !== '=') return problem(rest, '@container only supports =');
    conditions.push({ key, operator: operator as TagOperator, value });
    rest = rest.slice(whole.length);
    if (rest === '') break;
    const and = /^AND\s+/i.exec(rest);
    if (!and) return problem(rest, /^OR\b/i.test(rest) ? 'OR is not supported; only AND' : 'expected AND between conditions');
    rest = rest.slice(and[0].length);
  }
  if (conditions.length > 10) return problem('', 'at most 10 conditions are allowed');
  return conditions;
}

/**
 * Whether tags satisfy a (validated) query, with Azure's semantics: keys match exactly, values
 * compare as strings byte by byte, and @container names the container (for S3, the bucket).
 */
export function matchesTagQuery(query: string, tags: Readonly<Record<string, string>>, container: string): boolean {
  return parseTagQuery(query).every((condition) => {
    const actual = condition.key === undefined ? container : tagValue(tags, condition.key);
    if (actual === undefined) return false;
    const order = Buffer.compare(Buffer.from(actual), Buffer.from(condition.value));
    switch (condition.operator) {
      case '=':
        return order === 0;
      case '>':
        return order > 0;
      case '>=':
        return order >= 0;
      case '<':
        return order < 0;
      case '<=':
        return order <= 0;
    }
  });
}

/** A tag the store reported; a key such as "valueOf" is one the object must hold, not inherit. */
function tagValue(tags: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(tags, key) ? tags[key] : undefined;
}

function problem(rest: string, what: string): string {
  const at = rest ? ` at "${rest.slice(0, 30)}"` : '';
  return `${what}${at}. Example: ${EXAMPLE}`;
}
