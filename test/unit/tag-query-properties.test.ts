/**
 * Properties of the tag query parser and evaluator (fast-check): any query is either read into
 * its conditions or refused as a failure of the tagQuery setting (which the task reports as input
 * 'tagQuery'), and a store that evaluates a
 * query itself (S3, Azure ML) agrees with Azure's rules condition by condition.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { matchesTagQuery, parseTagQuery, tagQueryProblem, type TagCondition, type TagOperator } from '../../tasks/common/model/tagQuery';
import { settingFailure } from '../support/fetchHarness';

const tagText = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9 +\\-./:=_]{${min},${max}}$`));
const operator = fc.constantFrom<TagOperator>('=', '>', '>=', '<', '<=');
const condition: fc.Arbitrary<TagCondition> = fc.oneof(
  fc.record({ key: tagText(1, 20), operator, value: tagText(0, 20) }, { noNullPrototype: true }),
  fc.record({ key: fc.constant(undefined), operator: fc.constant<TagOperator>('='), value: tagText(0, 20) }, { noNullPrototype: true }),
);
const space = fc.constantFrom('', ' ', '  ');
const and = fc.constantFrom('AND', 'and', 'And');

function written(conditions: readonly TagCondition[], spaces: readonly string[], ands: readonly string[]): string {
  return conditions
    .map((c, i) => `${spaces[i % spaces.length]}${c.key === undefined ? '@container' : `"${c.key}"`}${spaces[(i + 1) % spaces.length]}${c.operator}${spaces[(i + 2) % spaces.length]}'${c.value}'`)
    .reduce((query, part, i) => (i === 0 ? part : `${query} ${ands[i % ands.length]} ${part}`), '');
}

function holds(c: TagCondition, tags: Record<string, string>, container: string): boolean {
  const actual = c.key === undefined ? container : Object.hasOwn(tags, c.key) ? tags[c.key] : undefined;
  if (actual === undefined) return false;
  const order = Buffer.compare(Buffer.from(actual), Buffer.from(c.value));
  return { '=': order === 0, '>': order > 0, '>=': order >= 0, '<': order < 0, '<=': order <= 0 }[c.operator];
}

const refused = (message: RegExp) => settingFailure({ setting: 'tagQuery', key: 'InputInvalid', run: 'connectionString', input: 'tagQuery', message });

describe('tag query properties (fast-check)', () => {
  it('reads back the conditions it was written from, whatever the spacing and the case of AND', () => {
    fc.assert(fc.property(fc.array(condition, { minLength: 1, maxLength: 10 }), fc.array(space, { minLength: 3, maxLength: 3 }), fc.array(and, { minLength: 1, maxLength: 3 }), (conditions, spaces, ands) => {
      assert.deepEqual(parseTagQuery(written(conditions, spaces, ands)), conditions);
    }));
  });

  it('refuses more than 10 conditions, naming the input', () => {
    fc.assert(fc.property(fc.array(condition, { minLength: 11, maxLength: 14 }), (conditions) => {
      const query = written(conditions, [' '], ['AND']);
      assert.throws(() => parseTagQuery(query), refused(/at most 10/));
      assert.ok(refused(/at most 10/)(tagQueryProblem(query)));
    }));
  });

  it('takes any text without another kind of failure than an input error naming tagQuery', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: fc.constantFrom('"', "'", '=', '<', '>', ' ', 'A', 'N', 'D', 'a', '@', 'x'), maxLength: 40 })), (query) => {
      const problem = tagQueryProblem(query);
      if (problem) assert.ok(refused(new RegExp(`^Input 'tagQuery' is`))(problem));
      else parseTagQuery(query);
    }), { numRuns: 3000 });
  });

  it('matches exactly when every condition holds by byte-wise comparison (Azure\'s semantics)', () => {
    const tags = fc.dictionary(tagText(1, 6), tagText(0, 6), { maxKeys: 5 });
    fc.assert(fc.property(fc.array(condition, { minLength: 1, maxLength: 4 }), tags, tagText(1, 8), (conditions, given, container) => {
      // Conditions on keys the tags hold, as often as on keys they lack.
      const keyed = conditions.map((c, i) => (c.key !== undefined && i % 2 === 0 && Object.keys(given).length ? { ...c, key: Object.keys(given)[i % Object.keys(given).length] } : c));
      const query = written(keyed, [' '], ['AND']);
      assert.equal(matchesTagQuery(query, given, container), keyed.every((c) => holds(c, given, container)));
    }));
  });
});
