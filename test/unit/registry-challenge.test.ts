/**
 * WWW-Authenticate as registries send it, and as a hostile one might: parseChallenge reads the
 * scheme and the realm, service and error parameters, whatever their order, case, spacing or
 * escaping, never throws, and a repeated parameter cannot replace the first one.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { parseChallenge } from '../../tasks/common/oci/registry/auth';

/** A quoted-string as RFC 7230 writes it: '"' and '\' escaped. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (character) => `\\${character}`)}"`;
}

describe('WWW-Authenticate challenges', () => {
  const examples: [string, ReturnType<typeof parseChallenge>][] = [
    ['Bearer realm="https://myacr.azurecr.io/oauth2/token",service="myacr.azurecr.io"', { scheme: 'bearer', realm: 'https://myacr.azurecr.io/oauth2/token', service: 'myacr.azurecr.io', error: undefined }],
    ['Basic realm="Registry Realm"', { scheme: 'basic', realm: 'Registry Realm', service: undefined, error: undefined }],
    ['Basic', { scheme: 'basic', realm: undefined, service: undefined, error: undefined }],
    ['bearer REALM=https://auth.docker.io/token , Service="registry.docker.io", error="invalid_token"', { scheme: 'bearer', realm: 'https://auth.docker.io/token', service: 'registry.docker.io', error: 'invalid_token' }],
    ['Negotiate abc', undefined],
    ['Bearerrealm="x"', undefined],
  ];
  for (const [header, expected] of examples) {
    it(`reads ${header}`, () => assert.deepEqual(parseChallenge(header), expected));
  }

  const value = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((text) => !/[\r\n]/.test(text));
  const name = (key: string) => fc.constantFrom(key, key.toUpperCase(), key[0].toUpperCase() + key.slice(1));
  const space = fc.stringMatching(/^[ \t]{0,2}$/);

  it('reads realm, service and error back in any order, case and spacing, escaped as RFC 7230 quotes them', () => {
    fc.assert(fc.property(fc.constantFrom('Bearer', 'bearer', 'BEARER'), value, value, value, fc.tuple(name('realm'), name('service'), name('error')), space, fc.func(fc.integer()), (scheme, realm, service, error, names, gap, order) => {
      const params = [[names[0], realm], [names[1], service], [names[2], error]].sort((a, b) => order(a[0]) - order(b[0]));
      const header = `${scheme} ${params.map(([key, text]) => `${key}${gap}=${gap}${quoted(text)}`).join(`${gap},${gap}`)}`;
      assert.deepEqual(parseChallenge(header), { scheme: 'bearer', realm, service, error });
    }));
  });

  it('keeps the first realm when a challenge repeats it', () => {
    fc.assert(fc.property(value, value, (first, second) => {
      assert.equal(parseChallenge(`Bearer realm=${quoted(first)},realm=${quoted(second)}`)?.realm, first);
    }));
  });

  it('never throws on any header, and returns only basic or bearer with string parameters', () => {
    const header = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.tuple(fc.constantFrom('Bearer ', 'Basic ', 'bearer\t'), fc.string({ maxLength: 120 })).map(([a, b]) => a + b));
    fc.assert(fc.property(header, (text) => {
      const challenge = parseChallenge(text);
      if (challenge === undefined) return;
      assert.ok(challenge.scheme === 'basic' || challenge.scheme === 'bearer');
      for (const part of [challenge.realm, challenge.service, challenge.error]) assert.ok(part === undefined || typeof part === 'string');
    }), { numRuns: 500 });
  });
});
