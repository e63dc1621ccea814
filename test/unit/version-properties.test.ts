/**
 * Properties of the version parser and ordering (fast-check): versions read from store names are
 * peer text, so the parser must take any string without throwing, and the order must be a total
 * preorder that SemVer's rules and date stamps agree with.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { compareVersions, nameWithoutVersion, parseVersion, sameVersionText, versionInName, type Version } from '../../tasks/common/model/version';

const segment = fc.nat({ max: 99_999 });
const identifier = fc.oneof(fc.nat({ max: 999 }).map(String), fc.stringMatching(/^[A-Za-z-][0-9A-Za-z-]{0,7}$/));
const dotted = fc.record({
  release: fc.array(segment, { minLength: 1, maxLength: 4 }),
  prerelease: fc.array(identifier, { maxLength: 3 }),
  build: fc.option(fc.stringMatching(/^[0-9A-Za-z]{1,6}$/), { nil: undefined }),
  v: fc.boolean(),
});
const text = ({ release, prerelease, build, v }: { release: number[]; prerelease: string[]; build?: string; v: boolean }) =>
  `${v ? 'v' : ''}${release.join('.')}${prerelease.length ? `-${prerelease.join('.')}` : ''}${build ? `+${build}` : ''}`;
const version = dotted.map((parts) => parseVersion(text(parts))!);
const sign = (n: number) => Math.sign(n) + 0;

describe('version properties (fast-check)', () => {
  it('parses every dotted version it is given, keeping the text and the numbers', () => {
    fc.assert(fc.property(dotted, (parts) => {
      const parsed = parseVersion(text(parts));
      assert.ok(parsed, text(parts));
      assert.equal(parsed.raw, text(parts));
      assert.deepEqual(parsed.release, parts.release);
      assert.deepEqual(parsed.prerelease, parts.prerelease);
    }));
  });

  it('never throws on any text, and what it parses keeps the text as it was', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (input) => {
      const parsed = parseVersion(input);
      if (parsed) assert.equal(parsed.raw, input);
      const found = versionInName(input, { isFile: true });
      if (found) assert.ok(input.includes(found.raw));
    }), { numRuns: 2000 });
  });

  it('orders as a total preorder: reflexive, antisymmetric, transitive', () => {
    fc.assert(fc.property(version, version, version, (a, b, c) => {
      assert.equal(compareVersions(a, a), 0);
      assert.equal(sign(compareVersions(a, b)), -sign(compareVersions(b, a)));
      if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) assert.ok(compareVersions(a, c) <= 0);
    }));
  });

  it('ignores a leading v, build metadata and trailing zero segments', () => {
    fc.assert(fc.property(dotted, fc.nat({ max: 2 }), (parts, zeros) => {
      const plain = parseVersion(text({ ...parts, v: false, build: undefined }))!;
      const decorated = parseVersion(text({ ...parts, v: true, build: 'abc', release: [...parts.release, ...Array<number>(zeros).fill(0)] }))!;
      assert.equal(compareVersions(plain, decorated), 0);
    }));
  });

  it('puts a pre-release below its release, and a higher segment above', () => {
    fc.assert(fc.property(dotted, fc.nat({ max: 3 }), (parts, at) => {
      const release = parseVersion(text({ ...parts, prerelease: [], build: undefined }))!;
      if (parts.prerelease.length) assert.equal(compareVersions(parseVersion(text(parts))!, release), -1);
      const bumped = [...parts.release];
      const index = Math.min(at, bumped.length - 1);
      bumped[index] += 1;
      const higher: Version = parseVersion(text({ ...parts, release: bumped.slice(0, index + 1), prerelease: [], build: undefined }))!;
      assert.equal(compareVersions(higher, release), 1);
    }));
  });

  it('finds the version in a file name after a separator, and takes it out again', () => {
    // After the first, pre-release identifiers in a file name are numeric (rc.1): '.beta' would read as an extension.
    const fileParts = fc.record({ release: fc.array(segment, { minLength: 1, maxLength: 4 }), prerelease: fc.array(fc.nat({ max: 99 }).map(String), { maxLength: 2 }), first: fc.option(fc.constantFrom('rc', 'beta', 'alpha'), { nil: undefined }) });
    fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z_]{0,8}[a-z]$/), fileParts, fc.constantFrom('-', '@'), fc.constantFrom('.onnx', '.pkl', '.tar.gz'), (stem, parts, separator, extension) => {
      const prerelease = parts.first ? [parts.first, ...parts.prerelease] : parts.prerelease;
      const written = text({ release: parts.release, prerelease, v: false });
      const found = versionInName(`${stem}${separator}${written}${extension}`, { isFile: true });
      assert.ok(found, `${stem}${separator}${written}${extension}`);
      assert.equal(found.raw, written);
      assert.equal(nameWithoutVersion(`${stem}${separator}${written}${extension}`, found), stem);
    }));
  });

  it('treats v1.2 and 1.2 as the same written version, symmetrically', () => {
    fc.assert(fc.property(dotted, dotted, (a, b) => {
      assert.ok(sameVersionText(text({ ...a, v: true }), text({ ...a, v: false })));
      assert.equal(sameVersionText(text(a), text(b)), sameVersionText(text(b), text(a)));
    }));
  });
});
