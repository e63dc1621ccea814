import { strict as assert } from 'node:assert';
import { TaskError } from '../../tasks/common/errors';
import { groupByVersion } from '../../tasks/common/model/layout';
import { selectModel, type SelectionRule } from '../../tasks/common/model/select';
import type { StoredObject } from '../../tasks/common/model/store';
import { settingFailure } from '../support/fetchHarness';

function blob(name: string, minutesAgo = 0, size = 10): StoredObject {
  return { name, size, etag: `"${name}"`, lastModified: new Date(Date.UTC(2026, 10, 20, 12, 0) - minutesAgo * 60_000) };
}

const context = (extra: Partial<Parameters<typeof selectModel>[2]> = {}) => ({ location: 'https://acct/models', prefix: 'churn/', ignored: [], includePrereleases: false, ...extra });

function pick(objects: StoredObject[], rule: SelectionRule, tagMatches?: Set<string>, includePrereleases = false) {
  const listing = groupByVersion('churn/', objects);
  return selectModel(listing.candidates, rule, context({ tagMatches, ignored: listing.ignored, includePrereleases }));
}

describe('model layout', () => {
  it('groups folder versions with nested paths, and single-blob versions', () => {
    const listing = groupByVersion('churn/', [
      blob('churn/1.0.0/model.onnx'),
      blob('churn/1.0.0/tokenizer/vocab.txt'),
      blob('churn/model-2.0.0.bin'),
      blob('churn/README.md'),
      blob('churn/archive/old.bin'),
    ]);
    const byName = Object.fromEntries(listing.candidates.map((c) => [c.name, c]));
    assert.deepEqual(Object.keys(byName).sort(), ['churn/1.0.0/', 'churn/model-2.0.0.bin']);
    assert.deepEqual(byName['churn/1.0.0/'].files.map((f) => f.relativePath), ['model.onnx', 'tokenizer/vocab.txt']);
    assert.equal(byName['churn/1.0.0/'].layout, 'folder');
    assert.equal(byName['churn/1.0.0/'].size, 20);
    assert.deepEqual(byName['churn/model-2.0.0.bin'].files.map((f) => f.relativePath), ['model-2.0.0.bin']);
    assert.deepEqual([...listing.ignored].sort(), ['churn/README.md', 'churn/archive/old.bin']);
  });

  it('accepts a prefix without the trailing slash', () => {
    const listing = groupByVersion('churn', [blob('churn/1.2.0/model.onnx')]);
    assert.equal(listing.candidates[0].name, 'churn/1.2.0/');
    assert.equal(listing.candidates[0].files[0].relativePath, 'model.onnx');
  });
});

describe('selection rules', () => {
  const objects = [
    blob('churn/1.9.3/model.onnx', 1),
    blob('churn/1.10.0/model.onnx', 30),
    blob('churn/1.11.0-rc.1/model.onnx', 0),
    blob('churn/v0.9.0/model.onnx', 60),
  ];

  it('highestVersion compares numerically and skips pre-releases unless asked', () => {
    assert.equal(pick(objects, { kind: 'highestVersion' }).version.raw, '1.10.0');
    assert.equal(pick(objects, { kind: 'highestVersion' }, undefined, true).version.raw, '1.11.0-rc.1');
    // The case an independent check found: 2.11.0-beta.2 ranks above 2.10.1, but is not a release.
    const beta = [blob('churn/2.10.1/m.bin'), blob('churn/2.11.0-beta.2/m.bin')];
    assert.equal(pick(beta, { kind: 'highestVersion' }).version.raw, '2.10.1');
    assert.equal(pick(beta, { kind: 'highestVersion' }, undefined, true).version.raw, '2.11.0-beta.2');
  });

  it('newest uses the last-modified time, ties broken by version, and skips pre-releases unless asked', () => {
    assert.equal(pick(objects, { kind: 'newest' }).version.raw, '1.9.3');
    assert.equal(pick(objects, { kind: 'newest' }, undefined, true).version.raw, '1.11.0-rc.1');
    const tied = [blob('churn/1.0.0/a.bin', 5), blob('churn/2.0.0/a.bin', 5)];
    assert.equal(pick(tied, { kind: 'newest' }).version.raw, '2.0.0');
  });

  it('a folder takes the time of its newest blob', () => {
    const folders = [blob('churn/1.0.0/a.bin', 50), blob('churn/1.0.0/b.bin', 1), blob('churn/2.0.0/a.bin', 10)];
    assert.equal(pick(folders, { kind: 'newest' }).version.raw, '1.0.0');
  });

  it('tagQuery takes the highest version that has a matching blob, pre-releases only when asked', () => {
    const matches = new Set(['churn/1.9.3/model.onnx', 'churn/v0.9.0/model.onnx', 'churn/1.11.0-rc.1/model.onnx']);
    const query = { kind: 'tagQuery', query: `"stage" = 'production'` } as const;
    assert.equal(pick(objects, query, matches).version.raw, '1.9.3');
    assert.equal(pick(objects, query, matches, true).version.raw, '1.11.0-rc.1');
  });

  it('pinned finds the named version with or without a leading v, a pre-release included', () => {
    assert.equal(pick(objects, { kind: 'pinned', version: '0.9.0' }).name, 'churn/v0.9.0/');
    assert.equal(pick(objects, { kind: 'pinned', version: '1.11.0-rc.1' }).name, 'churn/1.11.0-rc.1/');
  });

  for (const rule of [{ kind: 'highestVersion' }, { kind: 'newest' }, { kind: 'tagQuery', query: `"stage" = 'candidate'` }] as const) {
    it(`${rule.kind} with only pre-releases qualifying fails on includePrereleases and lists the ones it skipped`, () => {
      const candidates = [blob('churn/2.0.0-rc.1/m.bin'), blob('churn/2.0.0-rc.2/m.bin'), blob('churn/1.0.0/m.bin')];
      const matches = new Set(['churn/2.0.0-rc.1/m.bin', 'churn/2.0.0-rc.2/m.bin']);
      const only = rule.kind === 'tagQuery' ? candidates : candidates.slice(0, 2);
      assert.throws(() => pick(only, rule, matches), (error: unknown) => {
        settingFailure({ setting: 'includePrereleases', key: 'OnlyPrereleasesFound', run: 'connectionString', input: 'includePrereleases', message: /only pre-releases qualify.*'includePrereleases' is true\. Pre-releases skipped: 2\.0\.0-rc\.2, 2\.0\.0-rc\.1\.$/ })(error);
        assert.match((error as Error).message, new RegExp(rule.kind));
        return true;
      });
      assert.equal(pick(only, rule, matches, true).version.raw, '2.0.0-rc.2');
    });
  }

  it('a missing pinned version fails on the version input and lists what exists', () => {
    assert.throws(() => pick(objects, { kind: 'pinned', version: '3.0.0' }), (error: unknown) => {
      settingFailure({ setting: 'modelVersion', key: 'PinnedVersionNotFound', run: 'connectionString', input: 'version', message: /^Input 'version' is '3\.0\.0'/ })(error);
      assert.match((error as Error).message, /1\.11\.0-rc\.1, 1\.10\.0, 1\.9\.3, v0\.9\.0/);
      return true;
    });
  });

  it('no versioned names fails with the rule and the names it saw', () => {
    assert.throws(() => pick([blob('churn/notes.txt')], { kind: 'highestVersion' }), (error: unknown) => {
      assert.ok(error instanceof TaskError);
      assert.equal(error.key, 'NoVersionFound');
      assert.match(error.message, /highestVersion/);
      assert.match(error.message, /churn\/notes\.txt/);
      return true;
    });
  });

  it('no tag match fails naming the query', () => {
    assert.throws(() => pick(objects, { kind: 'tagQuery', query: `"stage" = 'gold'` }, new Set()), /"stage" = 'gold'/);
  });

  it('the same version published twice is an error, not a coin toss', () => {
    assert.throws(() => pick([blob('churn/1.0.0/a.bin'), blob('churn/model-1.0.0.bin')], { kind: 'highestVersion' }), (error: unknown) => {
      assert.ok(error instanceof TaskError);
      assert.equal(error.key, 'AmbiguousVersion');
      return true;
    });
  });
});
