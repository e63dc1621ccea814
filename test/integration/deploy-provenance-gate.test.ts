/**
 * Deploy's provenance gate against images Bake signed, on the real docker-registry (referrers tag
 * schema) and behind a referrers front (the native API, as ACR has it): the good case, and each
 * way it must refuse — unsigned, wrong key, another image's statement, another model, a tampered
 * envelope — with its own error.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { keyHint } from '../../tasks/common/attest/dsse';
import { attachReferrer } from '../../tasks/common/attest/referrers';
import { pemFileSigner } from '../../tasks/common/attest/signer';
import { verifyProvenance, type ProvenanceGate } from '../../tasks/common/attest/verify';
import { SettingError, TaskError } from '../../tasks/common/errors';
import type { MessageKey } from '../../tasks/common/messages';
import { policyForRetries } from '../../tasks/common/net/retry';
import { bakeModel, registryClient, type BakeOptions } from '../../tasks/common/oci/bake';
import { MediaType } from '../../tasks/common/oci/mediaTypes';
import { BUNDLE, tagSchemaReferrers } from '../support/attestChecks';
import { bakeOptions, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { pushBaseImage } from '../support/registry/baseImages';
import { rawRequest } from '../support/registry/http';
import { skopeoInspectRaw } from '../support/registry/imageTools';
import { startReferrersFront, type ReferrersFront } from '../support/registry/referrersFront';
import { startRegistry, type TestRegistry } from '../support/registry/registry';

const builder = { id: 'BakeModelIntoImage@1', version: '1.2.0' };
const modelDigest = `sha256:${'c'.repeat(64)}`;

function keyPair(root: string, name: string): { file: string; publicPem: string; publicKey: KeyObject } {
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const file = path.join(root, `${name}.pem`);
  fs.writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { file, publicKey: pair.publicKey, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

function gateContext() {
  const context = recordingContext();
  return { network: context.network, signal: context.lifetime.signal, log: context.log, retryPolicy: policyForRetries(2, { baseDelayMs: 20 }), onSecret: context.onSecret, lines: context.lines };
}

async function refused(gate: ProvenanceGate, key: MessageKey): Promise<TaskError> {
  try {
    await verifyProvenance(gate, gateContext());
  } catch (error) {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${error}`);
    assert.equal(error.key, key, error.message);
    return error;
  }
  assert.fail(`expected ${key}`);
}

describe('Deploy provenance gate', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let front: ReferrersFront;
  let root: string;
  let model: string;
  let trusted: ReturnType<typeof keyPair>;
  let stranger: ReturnType<typeof keyPair>;
  let trustedFile: string;
  let strangerFile: string;

  const bake = (target: string, signer?: string, host?: string, modelVersion = '3.0.0'): ReturnType<typeof bakeModel> => {
    const options: BakeOptions = bakeOptions(registry, {
      base: 'app:1', target, modelPath: model, tags: ['v1'], ...(host ? { host } : {}),
      bake: { modelDirectory: '/models', modelVersion, modelDigest, setModelEnv: true, labels: {}, created: '1970-01-01T00:00:00Z' },
      provenance: { builder, modelUri: 'https://models.example/churn/3', ...(signer ? { signer: () => pemFileSigner(signer) } : {}) },
    });
    return bakeModel(options, recordingContext());
  };
  const gate = (image: string, overrides: Partial<ProvenanceGate> = {}): ProvenanceGate => ({ image, credential: { kind: 'anonymous' }, insecure: true, trustedKeysFile: trustedFile, ...overrides });

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    front = await startReferrersFront(Number(registry.host.split(':')[1]));
    root = tempRoot('deploy-gate-');
    model = writeModel(root, { weightsBytes: 1 * MiB });
    await pushBaseImage(registry, 'app', '1', 'oci');
    trusted = keyPair(root, 'trusted');
    stranger = keyPair(root, 'stranger');
    // Several keys in one file: the stranger's first, so the right one must be found among them.
    trustedFile = path.join(root, 'trusted-keys.pem');
    fs.writeFileSync(trustedFile, `${stranger.publicPem}\n${trusted.publicPem}`);
    strangerFile = path.join(root, 'stranger-keys.pem');
    fs.writeFileSync(strangerFile, stranger.publicPem);
  });
  after(async () => {
    await front?.close();
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('passes an image Bake signed with a trusted key, naming the signer and the model', async () => {
    const signed = await bake('signed', trusted.file);
    const context = gateContext();
    const verified = await verifyProvenance(gate(signed.imageRef, { modelDigest }), context);
    assert.equal(verified.signer, keyHint(trusted.publicKey));
    assert.equal(verified.bundle, signed.attestation!.signatureDigest);
    assert.equal(verified.model, `https://models.example/churn/3 ${modelDigest}`);
    assert.ok(context.lines.some((line) => line.includes(`Provenance of ${signed.imageRef} verified`)));
  });

  it('refuses an unsigned image', async () => {
    const unsigned = await bake('unsigned');
    const error = await refused(gate(unsigned.imageRef), 'ProvenanceMissing');
    assert.match(error.message, /no signed provenance attestation.*referrers tag sha256-/);
  });

  it('refuses a signature by a key that is not trusted, naming the trusted keys setting', async () => {
    const signed = await bake('signed-wrong', trusted.file);
    const error = await refused(gate(signed.imageRef, { trustedKeysFile: strangerFile }), 'ProvenanceUntrusted');
    assert.ok(error instanceof SettingError && error.setting === 'trustedPublicKeys');
  });

  it("refuses another image's statement attached to this one", async () => {
    const other = await bake('other', trusted.file);
    const victim = await bake('victim', undefined, undefined, '3.0.1');
    assert.notEqual(victim.digest, other.digest);
    const [bundle] = (await tagSchemaReferrers(registry, 'other', other.digest)).filter((entry) => entry.artifactType === BUNDLE);
    await attachTo(victim.digest, 'victim', bundle.content);
    const error = await refused(gate(victim.imageRef), 'ProvenanceWrongSubject');
    assert.ok(error.message.includes(other.digest) && error.message.includes(victim.digest), error.message);
  });

  it('refuses a statement whose model is not the one expected, naming the model digest setting', async () => {
    const signed = await bake('signed-model', trusted.file);
    const error = await refused(gate(signed.imageRef, { modelDigest: `sha256:${'d'.repeat(64)}` }), 'ProvenanceModelMismatch');
    assert.ok(error instanceof SettingError && error.setting === 'modelDigest');
  });

  it('refuses a tampered envelope signed by a trusted key', async () => {
    const signed = await bake('signed-tamper', trusted.file);
    const victim = await bake('tampered', undefined, undefined, '3.0.2');
    const [bundle] = (await tagSchemaReferrers(registry, 'signed-tamper', signed.digest)).filter((entry) => entry.artifactType === BUNDLE);
    const json = JSON.parse(bundle.content.toString('utf8'));
    // The statement now claims the victim's digest; the signature is the original one.
    const statement = Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8').replaceAll(signed.digest.slice(7), victim.digest.slice(7));
    json.dsseEnvelope.payload = Buffer.from(statement).toString('base64');
    await attachTo(victim.digest, 'tampered', Buffer.from(JSON.stringify(json)));
    await refused(gate(victim.imageRef), 'ProvenanceSignatureInvalid');
  });

  it('refuses a tag reference, and a trusted keys file with no key', async () => {
    await refused(gate(`${registry.host}/signed:v1`), 'ProvenanceImageNotByDigest');
    const empty = path.join(root, 'empty.pem');
    fs.writeFileSync(empty, 'not a key\n');
    const signed = await bake('signed-keys', trusted.file);
    await refused(gate(signed.imageRef, { trustedKeysFile: empty }), 'TrustedKeysUnreadable');
  });

  it('goes through the native referrers API where the registry has one (OCI-Subject), with no tag index', async () => {
    const signed = await bake('native', trusted.file, front.host);
    assert.equal(signed.attestation!.path, 'referrersApi');
    const verified = await verifyProvenance(gate(signed.imageRef, { modelDigest }), gateContext());
    assert.equal(verified.signer, keyHint(trusted.publicKey));
    assert.ok(front.listings.includes(`native@${signed.digest}`), 'the gate asked the referrers API');
    const tags = JSON.parse((await rawRequest(`${registry.url}/v2/native/tags/list`)).body) as { tags: string[] };
    // Bake's re-bake memo has a tag of its own (bakememo-sha256-…); the referrers index would be sha256-<hex>.
    assert.deepEqual(tags.tags.filter((tag) => tag.startsWith('sha256-')), [], 'no sha256-<hex> tag index was written');
    assert.ok(tags.tags.includes('v1'));
    const unsigned = await bake('native-unsigned', undefined, front.host);
    const error = await refused(gate(unsigned.imageRef), 'ProvenanceMissing');
    assert.match(error.message, /the referrers API/);
  });

  async function attachTo(digest: string, repository: string, bundle: Buffer): Promise<void> {
    const raw = await skopeoInspectRaw(registry, `${repository}@${digest}`);
    const context = recordingContext();
    const options = bakeOptions(registry, { base: 'app:1', target: repository });
    const client = registryClient(registry.host, [`repository:${repository}:pull,push`], options.registry, options.registry.credential, context, new AbortController().signal);
    await attachReferrer(client, repository, { mediaType: MediaType.ociManifest, digest, size: Buffer.byteLength(raw) }, { artifactType: BUNDLE, content: bundle, annotations: {} });
  }
});
