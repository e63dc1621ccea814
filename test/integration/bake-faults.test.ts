/**
 * Bake Model Into Image when things go wrong: connections cut mid-upload, registry 500s, a token
 * that expires mid-push, Azure Container Registry's Entra exchange, and bad input that must fail
 * with a clear message and no tag moved.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { policyForRetries } from '../../tasks/common/net/retry';
import { bakeModel, type BakeOptions } from '../../tasks/common/oci/bake';
import { parseRepository } from '../../tasks/common/oci/reference';
import { BAKE_SETTINGS } from '../../tasks/common/pipeline/bakeInputs';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { bakeOptions, layerDigestsOf, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { startHttpFaultProxy } from '../support/httpFaultProxy';
import { nowSeconds, signRs256 } from '../support/jwt';
import { pushBaseImage } from '../support/registry/baseImages';
import { skopeoInspect, unpackImage } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { startTcpProxy } from '../support/tcpProxy';

async function failure(options: BakeOptions): Promise<TaskError> {
  try {
    await bakeModel(options, recordingContext());
  } catch (error) {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${(error as Error)?.stack ?? error}`);
    return error;
  }
  assert.fail('expected the bake to fail');
}

/** A refused model names the setting modelPath; the task reports it as input modelPath, as users saw before. */
function assertModelRefused(error: TaskError): InputError {
  assert.ok(error instanceof SettingError, String(error));
  assert.equal(error.setting, 'modelPath');
  const reported = asInputError(error, BAKE_SETTINGS);
  assert.ok(reported instanceof InputError && reported.input === 'modelPath', String(reported));
  assert.match(reported.message, /^Input 'modelPath'/);
  return reported;
}

async function tagExists(registry: TestRegistry, ref: string): Promise<boolean> {
  return skopeoInspect(registry, ref).then(() => true, () => false);
}

function aadToken(audience: string): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return signRs256({ aud: audience, iss: 'https://sts.windows.net/t1/', tid: 't1', oid: 'pipeline-identity', exp: nowSeconds() + 3600 }, privateKey);
}

describe('Bake under faults', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let root: string;
  let model: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot();
    model = writeModel(root);
    await pushBaseImage(registry, 'app', '1', 'oci');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('resumes uploads over connections cut mid-transfer and ends with the right digest', async () => {
    const port = Number(registry.host.split(':')[1]);
    const proxy = await startTcpProxy({ targetPort: port, cut: { direction: 'upstream', afterBytes: (n) => 5 * MiB + n * 997, maxCuts: 3 } });
    try {
      const host = `127.0.0.1:${proxy.port}`;
      const options = bakeOptions(registry, { host, base: 'app:1', target: 'cut', modelPath: model });
      const context = recordingContext();
      const cut = await bakeModel(options, context);
      assert.equal(proxy.cuts, 3, 'three connections were cut');
      assert.ok(context.progressBytes() > 70 * MiB, 'bytes after a cut were sent again');
      proxy.setCutPlan(undefined);
      const clean = await bakeModel(options, recordingContext());
      assert.equal(clean.digest, cut.digest, 'a clean bake of the same inputs gives the same digest');
      assert.ok(clean.bytesUploaded! < MiB, 'every blob of the cut bake arrived whole');
    } finally {
      await proxy.close();
    }
    const unpacked = await unpackImage(registry, 'cut:v1');
    try {
      assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models/weights.bin')).equals(fs.readFileSync(path.join(model, 'weights.bin'))));
    } finally {
      await unpacked.cleanup();
    }
  });

  it('hashes a new model while uploading it: after cuts and a 5xx it resumes from the registry\'s Range, and the registry takes the digest a separate hashing pass gives', async () => {
    const fresh = writeModel(root, { weightsBytes: 40 * MiB, seed: 9 });
    const expected = await layerDigestsOf(fresh, 'none');
    const port = Number(registry.host.split(':')[1]);
    // The whole blob shares one retry budget (4 here): two cuts and one 503.
    const tcp = await startTcpProxy({ targetPort: port, cut: { direction: 'upstream', afterBytes: (n) => 3 * MiB + n * 7919, maxCuts: 2 } });
    let patches = 0;
    const http = await startHttpFaultProxy({ targetPort: tcp.port, fault: (request) => (request.method === 'PATCH' && ++patches === 5 ? 503 : undefined) });
    try {
      const base = bakeOptions(registry, { host: `127.0.0.1:${http.port}`, base: 'app:1', target: 'hashing', modelPath: fresh });
      const options = { ...base, registry: { ...base.registry, chunkSize: 4 * MiB }, bake: { ...base.bake, modelDigest: `sha256:${'9'.repeat(64)}` } };
      const context = recordingContext();
      const result = await bakeModel(options, context);
      assert.equal(tcp.cuts, 2, 'two connections were cut');
      assert.equal(http.faults, 1, 'a PATCH was answered 503');
      assert.ok(context.lines.some((line) => /hashed on the way/.test(line)), 'the model was hashed while it was uploaded');
      assert.deepEqual(result.modelLayerDigests, expected.map((layer) => layer.digest), 'the digests a separate hashing pass gives');
    } finally {
      await http.close();
      await tcp.close();
    }
  });

  it('streams a large base layer from another registry across cut connections, starting the blob again where the registry forgot it, and checks its digest', async () => {
    await bakeModel(bakeOptions(registry, { base: 'app:1', target: 'with-model', modelPath: model }), recordingContext());
    const other = await startRegistry({ auth: 'none' });
    const proxy = await startTcpProxy({ targetPort: Number(other.host.split(':')[1]), cut: { direction: 'upstream', afterBytes: (n) => 5 * MiB + n * 997, maxCuts: 3 } });
    try {
      const next = writeModel(root, { weightsBytes: MiB, seed: 2 });
      const options = { ...bakeOptions(registry, { base: 'with-model:v1', target: 'copy', modelPath: next }), target: parseRepository(`127.0.0.1:${proxy.port}/copy`) };
      const context = recordingContext();
      await bakeModel(options, context);
      assert.equal(proxy.cuts, 3, 'three connections were cut');
      assert.ok(context.lines.some((line) => line.includes(`checked against its digest on the way from ${registry.host}/with-model`)), 'the base layers were streamed and checked');
      const unpacked = await unpackImage(other, 'copy:v1');
      try {
        assert.ok(fs.readFileSync(path.join(unpacked.rootfs, 'models/weights.bin')).equals(fs.readFileSync(path.join(next, 'weights.bin'))));
      } finally {
        await unpacked.cleanup();
      }
    } finally {
      await proxy.close();
      await other.stop();
    }
  });

  it('retries registry 500s and 503s on reads, uploads and manifests', async () => {
    const port = Number(registry.host.split(':')[1]);
    const seen = new Map<string, number>();
    const proxy = await startHttpFaultProxy({
      targetPort: port,
      // The first request of each kind fails once; every third PATCH fails too.
      fault: (request) => {
        const kind = `${request.method} ${request.url?.includes('/manifests/') ? 'manifest' : request.url?.includes('/uploads/') ? 'upload' : 'blob'}`;
        const count = (seen.get(kind) ?? 0) + 1;
        seen.set(kind, count);
        return count === 1 || (request.method === 'PATCH' && count % 3 === 0) ? (count % 2 ? 500 : 503) : undefined;
      },
    });
    try {
      const options = bakeOptions(registry, { host: `127.0.0.1:${proxy.port}`, base: 'app:1', target: 'flaky', modelPath: model });
      const result = await bakeModel(options, recordingContext());
      assert.ok(proxy.faults >= 6, `faults injected: ${proxy.faults}`);
      const clean = await bakeModel(options, recordingContext());
      assert.equal(clean.digest, result.digest);
    } finally {
      await proxy.close();
    }
  });

  it('gives up cleanly when the registry keeps failing, naming it, with no tag written and no upload session left open', async () => {
    const port = Number(registry.host.split(':')[1]);
    const sessions = new Set<string>();
    const cancelled = new Set<string>();
    const proxy = await startHttpFaultProxy({
      targetPort: port,
      fault: (request) => {
        const session = request.url?.split('?')[0] ?? '';
        if (request.method === 'PATCH') sessions.add(session);
        if (request.method === 'DELETE') cancelled.add(session);
        return request.method === 'PATCH' ? 503 : undefined;
      },
    });
    try {
      const options = bakeOptions(registry, { host: `127.0.0.1:${proxy.port}`, base: 'app:1', target: 'broken', modelPath: model });
      const error = await failure({ ...options, registry: { ...options.registry, retryPolicy: policyForRetries(2, { baseDelayMs: 50 }) } });
      assert.equal(error.key, 'RegistryRequestFailed');
      assert.match(error.message, /127\.0\.0\.1:\d+ failed after retries: .*503/);
      assert.equal(await tagExists(registry, 'broken:v1'), false);
      // The failed upload's session was cancelled: the registry no longer knows it.
      assert.ok(sessions.size > 0, 'no upload was attempted');
      const last = [...sessions].at(-1) as string;
      assert.ok(cancelled.has(last), `session ${last} was not cancelled (cancelled: ${[...cancelled].join(', ') || 'none'})`);
      const status = await fetch(`http://${registry.host}${last}`).then((answer) => answer.status);
      assert.equal(status, 404, `the registry still holds session ${last}`);
    } finally {
      await proxy.close();
    }
  });
});

describe('Bake with token auth: ACR exchange and expiring tokens', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let root: string;
  let model: string;

  before(async () => {
    registry = await startRegistry({ auth: 'token', tls: true });
    root = tempRoot();
    model = writeModel(root);
    await pushBaseImage(registry, 'team/app', '1', 'oci');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("follows ACR's flow: Entra token, /oauth2/exchange, /oauth2/token with pull on the base repository", async () => {
    const issuer = registry.issuer!;
    issuer.requests.length = 0;
    const base = bakeOptions(registry, { base: 'team/app:1', target: 'team/app-model', modelPath: model });
    const secrets: string[] = [];
    const context = { ...recordingContext(), onSecret: (value: string) => secrets.push(value) };
    const result = await bakeModel({ ...base, registry: { ...base.registry, credential: { kind: 'entra', tenantId: 't1', entraToken: async () => aadToken('https://management.azure.com/') } } }, context);
    assert.match(result.digest, /^sha256:/);
    const exchange = issuer.requests.find((request) => request.path === '/oauth2/exchange');
    const token = issuer.requests.find((request) => request.grantType === 'refresh_token');
    assert.equal(exchange?.status, 200);
    assert.equal(token?.status, 200);
    assert.ok(token?.scopes.includes('repository:team/app:pull'), `scopes: ${token?.scopes}`);
    assert.ok(token?.scopes.includes('repository:team/app-model:pull,push'));
    assert.ok(secrets.length >= 2, 'refresh and access tokens are registered as secrets');
    assert.ok(result.bytesReused! > 0, 'base layers were mounted from the base repository, not uploaded');
  });

  it('refuses an Entra token the registry does not accept, with a clear message', async () => {
    const base = bakeOptions(registry, { base: 'team/app:1', target: 'team/nope', modelPath: model });
    const error = await failure({ ...base, registry: { ...base.registry, credential: { kind: 'entra', entraToken: async () => aadToken('https://graph.microsoft.com') } } });
    assert.equal(error.key, 'RegistryCredentialsRejected');
    assert.match(error.message, /oauth2\/exchange \(HTTP 401\)/);
  });

  it('renews a token that expires mid-push and still ends with the right digest', async () => {
    const issuer = registry.issuer!;
    const options = bakeOptions(registry, { base: 'team/app:1', target: 'team/expiring', modelPath: model });
    const context = recordingContext();
    let expired = false;
    const progress = {
      ...context.progress,
      advance: (bytes: number) => {
        context.progress.advance(bytes);
        if (!expired && context.progressBytes() > 20 * MiB) {
          expired = true;
          issuer.expireIssuedTokens();
        }
      },
    };
    const before = issuer.requests.length;
    const result = await bakeModel(options, { ...context, progress });
    assert.ok(expired);
    assert.ok(issuer.requests.length - before >= 2, 'a second token was requested after the first expired');
    const again = await bakeModel(options, recordingContext());
    assert.equal(again.digest, result.digest);
    assert.ok(again.bytesUploaded! < MiB);
  });

  it('fails with the AcrPush hint when the identity may pull but not push, with no tag written', async () => {
    registry.issuer!.denyPush.add('team/readonly');
    const error = await failure(bakeOptions(registry, { base: 'team/app:1', target: 'team/readonly', modelPath: model }));
    assert.match(error.key, /RegistryUnauthorized|RegistryForbidden/);
    assert.match(error.message, /AcrPush/);
  });
});

describe('Bake: bad input that needs a registry or a file system', function () {
  this.timeout(120_000);
  let registry: TestRegistry;
  let basic: TestRegistry;
  let root: string;
  let model: string;

  before(async () => {
    [registry, basic] = await Promise.all([startRegistry({ auth: 'none' }), startRegistry({ auth: 'basic' })]);
    root = tempRoot();
    model = writeModel(root, { weightsBytes: MiB });
    await Promise.all([pushBaseImage(registry, 'app', '1', 'oci'), pushBaseImage(basic, 'app', '1', 'oci')]);
  });
  after(async () => {
    await Promise.all([registry?.stop(), basic?.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const cases: [string, () => BakeOptions, string, RegExp][] = [
    ['a base image that does not exist', () => bakeOptions(registry, { base: 'app:404', target: 'x', modelPath: model }), 'ImageNotFound', /app:404 was not found.*baseImage/],
    ['a base repository that does not exist', () => bakeOptions(registry, { base: 'nothing:1', target: 'x', modelPath: model }), 'ImageNotFound', /nothing:1 was not found/],
    ['a 401 without credentials', () => ({ ...bakeOptions(basic, { base: 'app:1', target: 'x', modelPath: model }), registry: { ...bakeOptions(basic, { base: 'app:1', target: 'x' }).registry, credential: { kind: 'anonymous' } } }), 'RegistryCredentialsRequired', /requires credentials.*containerRegistry/],
    ['a wrong password', () => ({ ...bakeOptions(basic, { base: 'app:1', target: 'x', modelPath: model }), registry: { ...bakeOptions(basic, { base: 'app:1', target: 'x' }).registry, credential: { kind: 'basic', username: basic.username!, password: 'wrong' } } }), 'RegistryCredentialsRejected', /refused the credentials/],
    ['plain HTTP without allowInsecureRegistry', () => ({ ...bakeOptions(registry, { base: 'app:1', target: 'x', modelPath: model }), registry: { ...bakeOptions(registry, { base: 'app:1', target: 'x' }).registry, insecure: false } }), 'RegistryNotTls', /allowInsecureRegistry/],
    ['a TLS registry whose CA is not trusted', () => ({ ...bakeOptions(basic, { base: 'app:1', target: 'x', modelPath: model }), registry: { ...bakeOptions(basic, { base: 'app:1', target: 'x' }).registry, ca: undefined } }), 'RegistryCertificateUntrusted', /NODE_EXTRA_CA_CERTS/],
    ['a registry nobody listens on', () => ({ ...bakeOptions(registry, { host: '127.0.0.1:1', base: 'app:1', target: 'x', modelPath: model }), registry: { ...bakeOptions(registry, { base: 'app:1', target: 'x' }).registry, retryPolicy: policyForRetries(1, { baseDelayMs: 50 }) } }), 'RegistryRequestFailed', /127\.0\.0\.1:1 failed after retries/],
    ['a model path that does not exist', () => bakeOptions(registry, { base: 'app:1', target: 'x', modelPath: path.join(root, 'missing') }), 'ModelPathMissing', /does not exist/],
  ];
  for (const [title, options, key, message] of cases) {
    it(`fails clearly on ${title}`, async () => {
      const error = await failure(options());
      assert.equal(error.key, key);
      assert.match(error.message, message);
      if (key.startsWith('ModelPath')) assert.match(assertModelRefused(error).message, message);
      assert.equal(await tagExists(registry, 'x:v1'), false, 'nothing was tagged');
    });
  }

  it('refuses an empty model folder, a symlink out of the model and a special file', async () => {
    const empty = fs.mkdtempSync(path.join(root, 'empty-'));
    fs.mkdirSync(path.join(empty, 'only-a-folder'));
    const escaping = fs.mkdtempSync(path.join(root, 'escape-'));
    fs.writeFileSync(path.join(escaping, 'model.onnx'), 'x');
    fs.symlinkSync('/etc/passwd', path.join(escaping, 'passwd'));
    const special = fs.mkdtempSync(path.join(root, 'fifo-'));
    fs.writeFileSync(path.join(special, 'model.onnx'), 'x');
    execFileSync('mkfifo', [path.join(special, 'pipe')]);
    const expectations: [string, string, RegExp][] = [
      [empty, 'ModelPathEmpty', /a folder with no files/],
      [escaping, 'ModelSymlinkEscapes', /symlink 'passwd' points to '\/etc\/passwd', outside the model folder/],
      [special, 'ModelPathSpecialFile', /pipe' is a named pipe/],
    ];
    for (const [modelPath, key, message] of expectations) {
      const error = await failure(bakeOptions(registry, { base: 'app:1', target: 'x', modelPath }));
      assert.equal(error.key, key);
      assert.match(assertModelRefused(error).message, message);
    }
  });
});
