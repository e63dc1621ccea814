/**
 * Self-tests of the registry harness: the real distribution registry in its three auth modes, base
 * images pushed by skopeo and read back by skopeo and umoci, the token server's Docker and ACR
 * flows, and token expiry that the registry really enforces.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { base64url, decodeJwt, nowSeconds } from './jwt';
import { type BaseImage, type BaseImageKind, pushBaseImage } from './registry/baseImages';
import { type RawResponse, basicAuth, postForm, rawRequest } from './registry/http';
import { readImageFiles, skopeoInspect, skopeoInspectConfig, skopeoInspectRaw, unpackImage } from './registry/imageTools';
import { type RegistryAuth, type TestRegistry, startRegistry } from './registry/registry';
import { NULL_GUID } from './registry/tokenIssuer';

const KINDS: BaseImageKind[] = ['oci', 'docker', 'index'];
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json';

/** An unsigned JWT shaped like an AAD access token (the default trust checks audience and expiry). */
function fakeAadToken(aud: string): string {
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: 'test' }));
  const payload = base64url(JSON.stringify({ aud, exp: nowSeconds() + 600, oid: 'oid-1', upn: 'dev@contoso.example', tid: 'tenant-1' }));
  return `${header}.${payload}.${base64url('signature')}`;
}

function access(token: string): unknown {
  return decodeJwt(token)?.payload.access;
}

function registryGet(registry: TestRegistry, urlPath: string, authorization?: string, method = 'GET'): Promise<RawResponse> {
  return rawRequest(`${registry.url}${urlPath}`, { method, ca: registry.caPem, headers: { accept: MANIFEST_ACCEPT, ...(authorization ? { authorization } : {}) } });
}

async function dockerToken(registry: TestRegistry, scope: string, user = registry.username as string, password = registry.password as string): Promise<RawResponse> {
  const query = new URLSearchParams({ service: registry.host, scope });
  return rawRequest(`${registry.issuer?.realm}?${query}`, { ca: registry.caPem, headers: { authorization: basicAuth(user, password) } });
}

async function checkPushedImages(registry: TestRegistry, images: Record<BaseImageKind, BaseImage>): Promise<void> {
  for (const kind of KINDS) {
    const image = images[kind];
    const raw = JSON.parse(await skopeoInspectRaw(registry, image.reference)) as { mediaType: string; manifests?: Array<{ digest: string; platform: { architecture: string } }> };
    assert.equal(raw.mediaType, image.mediaType);
    const inspected = await skopeoInspect(registry, image.reference);
    assert.equal(inspected.Digest, image.digest, `${kind}: skopeo inspect digest`);
    assert.deepEqual(inspected.Labels, image.config.config.Labels);
    assert.deepEqual(inspected.Env, image.config.config.Env);
    assert.equal(inspected.Layers.length, 2);
    const config = await skopeoInspectConfig(registry, image.reference);
    assert.deepEqual(config.config?.Entrypoint, ['python3', '/app/app.py']);
    assert.deepEqual(config.config?.ExposedPorts, { '8080/tcp': {} });
    assert.deepEqual(config.rootfs.diff_ids, image.config.rootfs.diff_ids);
    if (kind === 'index') {
      assert.deepEqual(raw.manifests?.map((m) => [m.platform.architecture, m.digest]), image.platforms.map((p) => [p.architecture, p.manifestDigest]));
      assert.equal((await skopeoInspectConfig(registry, image.reference, { platform: 'arm64' })).architecture, 'arm64');
    }
  }
}

async function checkUnpacked(registry: TestRegistry, image: BaseImage, platform: 'amd64' | 'arm64'): Promise<void> {
  const unpacked = await unpackImage(registry, image.reference, { platform });
  try {
    const expected = image.platforms.find((p) => p.architecture === platform)?.files ?? {};
    assert.deepEqual(readImageFiles(unpacked.rootfs, Object.keys(expected)), expected);
    assert.match(expected['/usr/bin/hello'], new RegExp(`hello from ${platform}`));
    assert.ok(fs.statSync(path.join(unpacked.rootfs, 'usr/bin/hello')).mode & 0o111, '/usr/bin/hello is executable');
    const proc = unpacked.runtimeConfig.process;
    assert.deepEqual(proc.args, ['python3', '/app/app.py', '--port', '8080']);
    assert.ok(proc.env?.includes('APP_ENV=production'));
    assert.equal(proc.cwd, '/app');
    assert.equal(proc.user.uid, 1000);
  } finally {
    await unpacked.cleanup();
    assert.equal(fs.existsSync(unpacked.rootfs), false);
  }
}

const MODES: Array<{ auth: RegistryAuth; unpack: BaseImageKind; platform: 'amd64' | 'arm64' }> = [
  { auth: 'none', unpack: 'oci', platform: 'amd64' },
  { auth: 'basic', unpack: 'docker', platform: 'amd64' },
  { auth: 'token', unpack: 'index', platform: 'arm64' },
];

describe('registry harness', function () {
  this.timeout(60_000);

  for (const mode of MODES) {
    describe(`auth: ${mode.auth}`, () => {
      let registry: TestRegistry;
      const images = {} as Record<BaseImageKind, BaseImage>;
      before(async () => {
        registry = await startRegistry({ auth: mode.auth });
        const pushed = await Promise.all(KINDS.map((kind) => pushBaseImage(registry, `base/${kind}`, 'v1', kind)));
        KINDS.forEach((kind, i) => (images[kind] = pushed[i]));
      });
      after(() => registry?.stop());

      it('serves every base image kind as pushed, as skopeo reads it', async () => {
        assert.equal(registry.tls, mode.auth === 'basic');
        assert.equal(images.docker.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
        assert.equal(images.index.mediaType, 'application/vnd.oci.image.index.v1+json');
        assert.equal(images.oci.mediaType, 'application/vnd.oci.image.manifest.v1+json');
        await checkPushedImages(registry, images);
      });

      it(`unpacks the ${mode.unpack} image (${mode.platform}) with umoci to the files written`, () => checkUnpacked(registry, images[mode.unpack], mode.platform));

      if (mode.auth === 'basic') {
        it('refuses a wrong password with 401 and a Basic challenge', async () => {
          const wrong = await registryGet(registry, '/v2/', basicAuth(registry.username as string, 'wrong'));
          assert.equal(wrong.status, 401);
          assert.equal(wrong.headers['www-authenticate'], 'Basic realm="test-registry"');
          assert.equal((await registryGet(registry, '/v2/', basicAuth(registry.username as string, registry.password as string))).status, 200);
          await assert.rejects(skopeoInspect({ ...registry, password: 'wrong' }, images.oci.reference), /unauthorized|authentication required/i);
        });
      }

      if (mode.auth === 'token') {
        it('challenges an anonymous request with the issuer realm and service, and records token requests', async () => {
          const answer = await registryGet(registry, '/v2/base/oci/manifests/v1');
          assert.equal(answer.status, 401);
          assert.equal(answer.headers['www-authenticate'], `Bearer realm="${registry.issuer?.realm}",service="${registry.host}",scope="repository:base/oci:pull"`);
          const pushes = registry.issuer?.requests.filter((r) => r.scopes.includes('repository:base/oci:pull,push'));
          assert.ok(pushes?.length && pushes.every((r) => r.account === registry.username && r.status === 200));
          assert.equal((await dockerToken(registry, 'repository:base/oci:pull', registry.username, 'wrong')).status, 401);
          assert.equal((await rawRequest(`${registry.issuer?.realm}?service=${registry.host}`)).status, 401);
        });

        it('exchanges an AAD token for an ACR refresh token, then a pull-only access token the registry honours', async () => {
          const issuer = registry.issuer!;
          const refused = await postForm(`${issuer.url}/oauth2/exchange`, { grant_type: 'access_token', service: registry.host, tenant: 'tenant-1', access_token: fakeAadToken('https://graph.microsoft.com') });
          assert.equal(refused.status, 401);
          assert.equal(JSON.parse(refused.body).errors[0].code, 'UNAUTHORIZED');
          const exchanged = await postForm(`${issuer.url}/oauth2/exchange`, { grant_type: 'access_token', service: registry.host, tenant: 'tenant-1', access_token: fakeAadToken('https://management.azure.com/') });
          assert.equal(exchanged.status, 200, exchanged.body);
          const refreshToken = JSON.parse(exchanged.body).refresh_token as string;
          assert.equal(decodeJwt(refreshToken)?.payload.grant_type, 'refresh_token');

          const answer = await postForm(`${issuer.url}/oauth2/token`, { grant_type: 'refresh_token', service: registry.host, scope: 'repository:base/oci:pull', refresh_token: refreshToken });
          assert.equal(answer.status, 200, answer.body);
          const token = JSON.parse(answer.body).access_token as string;
          assert.deepEqual(access(token), [{ type: 'repository', name: 'base/oci', actions: ['pull'] }]);
          assert.equal(decodeJwt(token)?.header.kid !== undefined, true);
          const pulled = await registryGet(registry, '/v2/base/oci/manifests/v1', `Bearer ${token}`);
          assert.equal(pulled.status, 200);
          assert.equal(pulled.headers['docker-content-digest'], images.oci.digest);
          const push = await registryGet(registry, '/v2/base/oci/blobs/uploads/', `Bearer ${token}`, 'POST');
          assert.equal(push.status, 401);
          assert.match(String(push.headers['www-authenticate']), /error="insufficient_scope"/);
          assert.equal((await registryGet(registry, '/v2/base/docker/manifests/v1', `Bearer ${token}`)).status, 401, 'other repository');
          assert.ok(issuer.requests.some((r) => r.path === '/oauth2/exchange' && r.grantType === 'access_token' && r.status === 200));
          assert.ok(issuer.requests.some((r) => r.grantType === 'refresh_token' && r.scopes.join() === 'repository:base/oci:pull'));

          // As docker login does with ACR: the null GUID as user, the refresh token as password.
          const viaBasic = await dockerToken(registry, 'repository:base/oci:pull', NULL_GUID, refreshToken);
          assert.equal(viaBasic.status, 200, viaBasic.body);
          const scopes = await postForm(`${issuer.url}/oauth2/token`, { grant_type: 'refresh_token', service: registry.host, refresh_token: refreshToken, scope: ['repository:a/one:pull repository:a/two:pull,push', 'registry:catalog:*'] });
          assert.deepEqual((access(JSON.parse(scopes.body).access_token) as unknown[]).length, 3);
        });

        it('withholds push on a denyPush repository and grants only the actions asked for', async () => {
          registry.issuer!.denyPush.add('locked/app');
          try {
            const locked = JSON.parse((await dockerToken(registry, 'repository:locked/app:pull,push')).body);
            assert.deepEqual(access(locked.token), [{ type: 'repository', name: 'locked/app', actions: ['pull'] }]);
            assert.equal(locked.access_token, locked.token);
            assert.equal(locked.expires_in, 3600);
            const password = await postForm(`${registry.issuer?.url}/oauth2/token`, { grant_type: 'password', service: registry.host,
              username: registry.username as string, password: registry.password as string, scope: 'repository:locked/app:push' });
            assert.equal(password.status, 200, password.body);
            assert.deepEqual(access(JSON.parse(password.body).access_token), []);
            const wrong = await postForm(`${registry.issuer?.url}/oauth2/token`, { grant_type: 'password', service: registry.host, username: 'tester', password: 'nope' });
            assert.equal(wrong.status, 401);
          } finally {
            registry.issuer!.denyPush.delete('locked/app');
          }
        });

        it('mounts a blob across repositories when the token carries pull on the source', async () => {
          const layer = images.oci.platforms[0].layers[1].digest;
          const mount = `/v2/copy/app/blobs/uploads/?mount=${layer}&from=base/oci`;
          const withoutSource = JSON.parse((await dockerToken(registry, 'repository:copy/app:pull,push')).body).token as string;
          const refused = await registryGet(registry, mount, `Bearer ${withoutSource}`, 'POST');
          assert.equal(refused.status, 401);
          assert.match(String(refused.headers['www-authenticate']), /repository:base\/oci:pull.*error="insufficient_scope"/);
          const both = await rawRequest(`${registry.issuer?.realm}?service=${registry.host}&scope=repository:copy/app:pull,push&scope=repository:base/oci:pull`,
            { headers: { authorization: basicAuth(registry.username as string, registry.password as string) } });
          const mounted = await registryGet(registry, mount, `Bearer ${JSON.parse(both.body).token}`, 'POST');
          assert.equal(mounted.status, 201, mounted.body);
          assert.equal(mounted.headers['docker-content-digest'], layer);
          assert.ok(registry.issuer?.requests.some((r) => r.scopes.includes('repository:base/oci:pull') && r.scopes.includes('repository:copy/app:pull,push')));
        });

        it('makes issued tokens fail mid-upload after expireIssuedTokens(), with the registry\'s own challenge', async () => {
          const token = JSON.parse((await dockerToken(registry, 'repository:mid/push:pull,push')).body).token as string;
          const started = await registryGet(registry, '/v2/mid/push/blobs/uploads/', `Bearer ${token}`, 'POST');
          assert.equal(started.status, 202);
          // Each PATCH answers with the next Location (distribution's _state carries the offset).
          const patch = (at: RawResponse, authToken: string, body: string) => rawRequest(new URL(String(at.headers.location), registry.url).toString(),
            { method: 'PATCH', body, headers: { authorization: `Bearer ${authToken}`, 'content-type': 'application/octet-stream' } });
          const first = await patch(started, token, 'first half;');
          assert.equal(first.status, 202);

          registry.issuer!.expireIssuedTokens();
          const refused = await patch(first, token, 'second half');
          assert.equal(refused.status, 401);
          // distribution lists the actions in Go map order: pull,push or push,pull.
          const challenge = String(refused.headers['www-authenticate']).replace('push,pull', 'pull,push');
          assert.equal(challenge, `Bearer realm="${registry.issuer?.realm}",service="${registry.host}",scope="repository:mid/push:pull,push",error="invalid_token"`);

          const fresh = JSON.parse((await dockerToken(registry, 'repository:mid/push:pull,push')).body).token as string;
          const second = await patch(first, fresh, 'second half');
          assert.equal(second.status, 202, second.body);
          const digest = `sha256:${createHash('sha256').update('first half;second half').digest('hex')}`;
          const done = new URL(String(second.headers.location), registry.url);
          done.searchParams.set('digest', digest);
          const put = await rawRequest(done.toString(), { method: 'PUT', body: '', headers: { authorization: `Bearer ${fresh}` } });
          assert.equal(put.status, 201, put.body);
        });
      }
    });
  }

  it('token mode over TLS: x5c headers, and a short token lifetime enforced at the registry front with no leeway', async () => {
    const registry = await startRegistry({ auth: 'token', tls: true, tokenHeader: 'x5c' });
    try {
      assert.ok(registry.url.startsWith('https://') && registry.certDir && registry.caPem);
      await pushBaseImage(registry, 'tls/app', 'v1', 'oci'); // skopeo through the TLS gate
      registry.issuer!.tokenLifetimeSeconds = 1;
      const answer = JSON.parse((await dockerToken(registry, 'repository:tls/app:pull')).body);
      assert.equal(answer.expires_in, 1);
      assert.ok(Array.isArray(decodeJwt(answer.token)?.header.x5c));
      assert.equal((await registryGet(registry, '/v2/tls/app/manifests/v1', `Bearer ${answer.token}`)).status, 200);
      const exp = decodeJwt(answer.token)?.payload.exp as number;
      await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
      const expired = await registryGet(registry, '/v2/tls/app/manifests/v1', `Bearer ${answer.token}`);
      assert.equal(expired.status, 401);
      assert.match(String(expired.headers['www-authenticate']), /error="invalid_token"/);
    } finally {
      await registry.stop();
    }
  });

  it('stop() ends the registry process, closes the gate and token server, and removes its files', async () => {
    const registry = await startRegistry({ auth: 'token' });
    const issuerUrl = registry.issuer?.url as string;
    await registry.stop();
    assert.throws(() => process.kill(registry.pid, 0), /ESRCH/);
    assert.equal(fs.existsSync(path.dirname(registry.storageDir)), false);
    await assert.rejects(rawRequest(`${registry.url}/v2/`), /ECONNREFUSED/);
    await assert.rejects(rawRequest(issuerUrl), /ECONNREFUSED/);
    await registry.stop(); // idempotent
  });
});
