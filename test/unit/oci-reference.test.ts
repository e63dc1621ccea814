import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { formatReference, manifestReference, parseReference, parseRepository, ReferenceError } from '../../tasks/common/oci/reference';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('image references', () => {
  const good: [string, { registry: string; repository: string; tag?: string; digest?: string }][] = [
    ['myacr.azurecr.io/churn-app:1.0', { registry: 'myacr.azurecr.io', repository: 'churn-app', tag: '1.0' }],
    ['127.0.0.1:5000/team/app', { registry: '127.0.0.1:5000', repository: 'team/app' }],
    ['localhost/app:latest', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['python:3.12-slim', { registry: 'registry-1.docker.io', repository: 'library/python', tag: '3.12-slim' }],
    ['docker.io/bitnami/redis', { registry: 'registry-1.docker.io', repository: 'bitnami/redis' }],
    [`myacr.azurecr.io/app:v1@${digest}`, { registry: 'myacr.azurecr.io', repository: 'app', tag: 'v1', digest }],
    [`myacr.azurecr.io/app@${digest}`, { registry: 'myacr.azurecr.io', repository: 'app', digest }],
  ];
  for (const [text, expected] of good) {
    it(`parses ${text}`, () => assert.deepEqual({ ...parseReference(text) }, expected));
  }

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['myacr.azurecr.io/Churn-App:1', /'Churn-App' is not valid/],
    ['myacr.azurecr.io/app:-bad', /'-bad' is not a valid tag/],
    ['myacr.azurecr.io/app@sha256:1234', /not a sha256 digest/],
    ['my acr/app', /no spaces/],
    ['myacr.azurecr.io/app//x', /'' is not valid/],
    ['bad_host.io:99999999/app', /not a registry host/],
    ['a.aa:65536/a', /'a.aa:65536' is not a registry host/],
    ['[::0:0::1]:5000/app', /not a registry host/],
  ];
  for (const [text, message] of bad) {
    it(`rejects '${text}'`, () => assert.throws(() => parseReference(text), (error: Error) => error instanceof ReferenceError && message.test(error.message)));
  }

  it('formats pinned references by digest and others by tag, defaulting to latest', () => {
    assert.equal(formatReference(parseReference(`r.io/a:1@${digest}`)), `r.io/a@${digest}`);
    assert.equal(formatReference(parseReference('r.io/a')), 'r.io/a:latest');
    assert.equal(manifestReference(parseReference('r.io/a:7')), '7');
    assert.equal(manifestReference(parseReference(`r.io/a:7@${digest}`)), digest);
  });

  it('refuses a tag where a repository is expected', () => {
    assert.throws(() => parseRepository('r.io/a:1'), /without a tag or digest/);
    assert.equal(parseRepository('r.io/a').repository, 'a');
  });
});

describe('image references: properties (fast-check)', () => {
  const component = fc.stringMatching(/^[a-z0-9]{1,8}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,8}){0,2}$/);
  const repository = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
  const host = fc.tuple(fc.domain(), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })).map(([name, port]) => (port === undefined ? name : `${name}:${port}`));
  const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
  const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`);
  /** What a parsed reference may hold: only the grammar's characters, never a space, a control character or '#'. */
  const CLEAN = /^[A-Za-z0-9._:/@[\]-]*$/;

  it('reads back every part of a reference written from valid parts', () => {
    fc.assert(fc.property(host, repository, fc.option(tag, { nil: undefined }), fc.option(digest, { nil: undefined }), (registry, path, givenTag, givenDigest) => {
      fc.pre(registry.length + 1 + path.length <= 255);
      const text = `${registry}/${path}${givenTag ? `:${givenTag}` : ''}${givenDigest ? `@${givenDigest}` : ''}`;
      assert.deepEqual({ ...parseReference(text) }, { registry, repository: path, ...(givenTag ? { tag: givenTag } : {}), ...(givenDigest ? { digest: givenDigest } : {}) });
    }));
  });

  it('either refuses any text with a ReferenceError or returns grammar-clean parts that format and parse back the same', () => {
    const literal = fc.oneof(fc.ipV6().map((ip) => `[${ip}]`), fc.stringMatching(/^\[[0-9a-f:.]{1,12}\]$/));
    const hostish = fc.tuple(fc.oneof(fc.domain(), literal), fc.integer({ min: 0, max: 999_999 })).map(([name, port]) => `${name}:${port}`);
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.tuple(fc.oneof(host, hostish), repository, fc.string({ maxLength: 12 })).map(([a, b, c]) => `${a}/${b}${c}`));
    fc.assert(fc.property(text, (candidate) => {
      let parsed;
      try {
        parsed = parseReference(candidate);
      } catch (error) {
        assert.ok(error instanceof ReferenceError, `not a ReferenceError: ${error}`);
        return;
      }
      for (const part of [parsed.registry, parsed.repository, parsed.tag ?? '', parsed.digest ?? '']) assert.match(part, CLEAN);
      assert.doesNotThrow(() => new URL(`https://${parsed.registry}/v2/`), 'the registry is a host a URL can carry');
      const again = parseReference(formatReference(parsed));
      assert.deepEqual([again.registry, again.repository, again.digest, again.digest ? undefined : again.tag ?? 'latest'], [parsed.registry, parsed.repository, parsed.digest, parsed.digest ? undefined : parsed.tag ?? 'latest']);
    }), { numRuns: 500 });
  });
});
