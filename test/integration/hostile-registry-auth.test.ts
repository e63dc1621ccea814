/**
 * Hostile registries and credentials: a 401 whose Bearer realm points at another host (over http
 * and https, for a user/password connection and for an ACR/Entra one), a realm on plain http, and
 * a redirect from https down to http. Each case checks what the other host received: nothing
 * secret, and mostly nothing at all, because the refusal comes before anything is sent.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TaskError } from '../../tasks/common/errors';
import { CredentialScopeError } from '../../tasks/common/net/errors';
import { explainFailure } from '../../tasks/common/net/explain';
import { bakeModel, type BakeOptions } from '../../tasks/common/oci/bake';
import type { RegistryCredential } from '../../tasks/common/oci/registry/auth';
import { bakeOptions, MiB, recordingContext, tempRoot, writeModel, type RecordingContext } from '../support/bakeHarness';
import { startHostileFront, type FrontAction, type HostileFront } from '../support/registry/hostileFront';
import { createTestCa, type TestCa } from '../support/tls';

const PASSWORD = 'S3cret-registry-pass';
const ENTRA_TOKEN = 'eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9.entra-signature';

describe('hostile registry: where credentials may go', function () {
  this.timeout(60_000);
  let root: string;
  let model: string;
  let ca: TestCa;
  let caPem: string;
  const fronts: HostileFront[] = [];

  before(() => {
    root = tempRoot('hostile-auth-');
    model = writeModel(root, { weightsBytes: MiB });
    ca = createTestCa(path.join(root, 'ca'));
    caPem = fs.readFileSync(ca.caCert, 'utf8');
  });
  after(async () => {
    await Promise.all(fronts.map((front) => front.close()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function front(tls: boolean, decide?: (url: string, authorization?: string) => FrontAction | undefined): Promise<HostileFront> {
    const started = await startHostileFront({ ...(tls ? { tls: ca } : {}), decide: decide && ((request) => decide(request.url ?? '', request.headers.authorization)) });
    fronts.push(started);
    return started;
  }

  /** Options for a bake against `registry` as if it were the app's registry. */
  function optionsFor(registry: HostileFront, credential: RegistryCredential): BakeOptions {
    const tls = registry.url.startsWith('https:');
    const options = bakeOptions({ host: registry.host, tls, ...(tls ? { caPem } : {}) }, { base: 'app:1', target: 'app', modelPath: model });
    return { ...options, registry: { ...options.registry, credential } };
  }

  async function failure(options: BakeOptions, context: RecordingContext = recordingContext()): Promise<Error> {
    const error = await bakeModel(options, context).then(() => undefined, (caught: Error) => caught);
    assert.ok(error, 'the bake must fail');
    const shown = [String(explainFailure(error)), ...context.lines].join('\n');
    for (const secret of [PASSWORD, Buffer.from(`user:${PASSWORD}`).toString('base64'), ENTRA_TOKEN]) assert.ok(!shown.includes(secret), 'a secret reached a message or log line');
    return error;
  }

  const basic: RegistryCredential = { kind: 'basic', username: 'user', password: PASSWORD };

  function entra(): RegistryCredential & { requested: () => number } {
    let requested = 0;
    return { kind: 'entra', tenantId: 't1', entraToken: async () => (requested++, ENTRA_TOKEN), requested: () => requested };
  }

  const challenge = (realm: string) => ({ kind: 'answer' as const, status: 401, headers: { 'www-authenticate': `Bearer realm="${realm}",service="registry",scope="repository:app:pull"` } });

  for (const scheme of ['http', 'https'] as const) {
    it(`refuses a realm on another host over ${scheme} for an ACR connection before the Entra token is requested`, async () => {
      const other = await front(scheme === 'https', () => ({ kind: 'answer', status: 200, body: '{"refresh_token":"r","access_token":"a"}' }));
      const registry = await front(true, () => challenge(`${other.url}/oauth2/token`));
      const credential = entra();
      const error = await failure(optionsFor(registry, credential));
      assert.ok(error instanceof TaskError && error.key === 'RegistryRealmForeign', String(error));
      assert.match(error.message, new RegExp(`to ${other.host.replace(/\./g, '\\.')}\\. Refused before the Entra ID token was requested`));
      assert.equal(credential.requested(), 0, 'the Entra token was never requested');
      assert.deepEqual(other.requests, [], 'the other host received nothing');
    });
  }

  it('refuses a realm on another host over plain http for a user/password connection, sending it nothing', async () => {
    const other = await front(false);
    const registry = await front(true, () => challenge(`${other.url}/token`));
    const error = await failure(optionsFor(registry, basic));
    assert.ok(error instanceof TaskError && error.key === 'RegistryRealmInsecure', String(error));
    assert.match(error.message, new RegExp(`Registry ${registry.host.replace(/\./g, '\\.')} sends its clients for a token to ${other.host.replace(/\./g, '\\.')} over plain http`));
    assert.deepEqual(other.requests, []);
  });

  it("refuses a realm on plain http on the registry's own host when the registry is https", async () => {
    let registry: HostileFront | undefined;
    registry = await front(true, () => challenge(`http://${registry!.host}/token`));
    const error = await failure(optionsFor(registry, basic));
    assert.ok(error instanceof TaskError && error.key === 'RegistryRealmInsecure', String(error));
    assert.ok(registry.requests.every((request) => request.authorization === undefined), 'no request carried credentials');
  });

  it("sends Basic credentials to a realm on another host over https only (Docker Hub's flow) and names that host in the debug log", async () => {
    const other = await front(true, () => ({ kind: 'answer', status: 200, headers: { 'content-type': 'application/json' }, body: '{"token":"hub-token"}' }));
    const registry = await front(true, (_url, authorization) => (authorization === 'Bearer hub-token' ? { kind: 'answer', status: 404 } : challenge(`${other.url}/token`)));
    const context = recordingContext();
    const error = await failure(optionsFor(registry, basic), context);
    assert.ok(error instanceof TaskError && error.key === 'ImageNotFound', String(error));
    assert.equal(other.requests.length, 1);
    assert.equal(other.requests[0].authorization, `Basic ${Buffer.from(`user:${PASSWORD}`).toString('base64')}`, 'the token service got the Basic credentials, over TLS');
    assert.ok(context.lines.some((line) => line.includes(`sends token requests to ${other.host}`)), 'the debug log names the realm host');
    assert.ok(registry.requests.every((request) => !request.authorization?.startsWith('Basic')), 'the registry itself never got the password');
  });

  it("takes a token from an insecure registry's own host over plain http (allowInsecureRegistry)", async () => {
    let registry: HostileFront | undefined;
    registry = await front(false, (url, authorization) => {
      if (url.startsWith('/token')) return { kind: 'answer', status: 200, body: '{"token":"local"}' };
      return authorization === 'Bearer local' ? { kind: 'answer', status: 404 } : challenge(`${registry!.url}/token`);
    });
    const error = await failure(optionsFor(registry, basic));
    assert.ok(error instanceof TaskError && error.key === 'ImageNotFound', String(error));
    assert.ok(registry.requests.some((request) => request.url.startsWith('/token') && request.authorization?.startsWith('Basic ')));
  });

  it('refuses a redirect from https to http on the same host, so no credential travels in cleartext', async () => {
    const plain = await front(false);
    const registry = await front(true, (url, authorization): FrontAction => {
      if (!authorization) return { kind: 'answer', status: 401, headers: { 'www-authenticate': 'Basic realm="registry"' } };
      return { kind: 'answer', status: 307, headers: { location: `http://127.0.0.1:${plain.host.split(':')[1]}${url}` } };
    });
    const error = await failure(optionsFor(registry, basic));
    assert.ok(error instanceof CredentialScopeError, String(error));
    const explained = explainFailure(error);
    assert.ok(explained instanceof TaskError && explained.key === 'CredentialScopeRefused');
    assert.match(explained.message, /a redirect from https to plain http is refused/);
    assert.deepEqual(plain.requests, [], 'nothing reached the plain-http port');
  });

  it('drops credentials on a redirect to another origin and keeps them on the registry', async () => {
    const storage = await front(true, () => ({ kind: 'answer', status: 404 }));
    const registry = await front(true, (url, authorization): FrontAction => {
      if (!authorization) return { kind: 'answer', status: 401, headers: { 'www-authenticate': 'Basic realm="registry"' } };
      return { kind: 'answer', status: 307, headers: { location: `${storage.url}/blob${url}?sig=abc` } };
    });
    await failure(optionsFor(registry, basic));
    assert.ok(storage.requests.length > 0);
    assert.ok(storage.requests.every((request) => request.authorization === undefined), 'the other origin got no credentials');
  });
});
