import { InputError } from '../errors';

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

export function validateTagQuery(query: string): string {
  parseTagQuery(query);
  return query.trim();
}

export function parseTagQuery(query: string): TagCondition[] {
  let rest = query.trim();
  const conditions: TagCondition[] = [];
  while (true) {
    const match = CONDITION.exec(rest);
    if (!match) return fail(query, rest, /^\s*[A-Za-z_][\w-]*\s*(=|<|>)/.test(rest) ? 'put the tag name in double quotes' : 'expected "tag" operator \'value\'');
    const [whole, , key, operator, value] = match;
    if (key !== undefined && !TAG_CHARACTERS.test(key)) return fail(query, rest, `tag name "${key}" has characters tags cannot hold`);
    if (!TAG_CHARACTERS.test(value)) return fail(query, rest, `value '${value}' has characters tags cannot hold`);
    if (key === undefined && operator !== '=') return fail(query, rest, '@container only supports =');
    conditions.push({ key, operator: operator as TagOperator, value });
    rest = rest.slice(whole.length);
    if (rest === '') break;
    const and = /^AND\s+/i.exec(rest);
    if (!and) return fail(query, rest, /^OR\b/i.test(rest) ? 'OR is not supported; only AND' : 'expected AND between conditions');
    rest = rest.slice(and[0].length);
  }
  if (conditions.length > 10) return fail(query, '', 'at most 10 conditions are allowed');
  return conditions;
}

/**
 * Whether tags satisfy a (validated) query, with Azure's semantics: keys match exactly, values
 * compare as strings byte by byte, and @container names the container (for S3, the bucket).
 */
export function matchesTagQuery(query: string, tags: Readonly<Record<string, string>>, container: string): boolean {
  return parseTagQuery(query).every((condition) => {
    const actual = condition.key === undefined ? container : tags[condition.key];
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

function fail(query: string, rest: string, problem: string): never {
  const at = rest ? ` at "${rest.slice(0, 30)}"` : '';
  throw new InputError('tagQuery', 'InputInvalid', ['tagQuery', query, `${problem}${at}. Example: ${EXAMPLE}`]);
}
