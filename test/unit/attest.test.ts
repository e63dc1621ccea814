import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { envelopeOf, sigstoreBundle } from '../../tasks/common/attest/bundle';
import { keyHint, preAuthEncoding, signEnvelope, verifyEnvelope } from '../../tasks/common/attest/dsse';
import { keyVaultScope, parseKeyVaultKeyId } from '../../tasks/common/attest/keyVaultSigner';
import { artifactManifest, EMPTY_CONFIG, referrerDescriptors, referrersTag } from '../../tasks/common/attest/referrers';
import { keySigner } from '../../tasks/common/attest/signer';
import { provenanceStatement, statementBytes, type ProvenanceFacts } from '../../tasks/common/attest/statement';

const digest = `sha256:${'1'.repeat(64)}`;
const facts: ProvenanceFacts = {
  subject: { name: 'myacr.azurecr.io/churn', digest },
  builder: { id: 'BakeModelIntoImage@1', version: '1.2.0' },
  baseImage: { name: 'myacr.azurecr.io/app:1', digest: `sha256:${'2'.repeat(64)}` },
  model: { uri: 'https://models.example/churn/3', digest: `sha256:${'3'.repeat(64)}`, version: '3', directory: '/models', files: [{ path: 'z.bin', digest: `sha256:${'4'.repeat(64)}` }, { path: 'a.json', digest: `sha256:${'5'.repeat(64)}` }] },
  source: { uri: 'https://dev.azure.com/c/_git/churn', revision: 'f00d' },
  run: { url: 'https://dev.azure.com/c/p/_build/results?buildId=1', startedOn: '2026-01-01T00:00:00.000Z', finishedOn: '2026-01-01T00:01:00.000Z' },
  tags: ['42'],
};

describe('attestation pieces (pure)', () => {
  it('serialises the same facts to the same bytes, files sorted whatever order they came in', () => {
    const reversed = { ...facts, model: { ...facts.model, files: [...facts.model.files].reverse() } };
    assert.ok(statementBytes(facts).equals(statementBytes(reversed)));
    const names = provenanceStatement(facts).predicate.buildDefinition.resolvedDependencies.map((entry) => entry.name);
    assert.deepEqual(names, ['baseImage', 'model', 'model/a.json', 'model/z.bin', 'source']);
  });

  it('leaves out what the bake did not know, rather than writing empty values', () => {
    const bare = provenanceStatement({ ...facts, baseImage: undefined, model: { directory: '/models', files: [] }, source: {}, run: { startedOn: 'a', finishedOn: 'b' } });
    assert.deepEqual(bare.predicate.buildDefinition.resolvedDependencies, []);
    assert.deepEqual(bare.predicate.runDetails.metadata, { startedOn: 'a', finishedOn: 'b' });
    assert.ok(!('modelUri' in bare.predicate.buildDefinition.externalParameters));
  });

  it('encodes PAE as the DSSE specification shows it', () => {
    assert.equal(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('signs an envelope that verifies with its key only, and not once the payload changes', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const signer = keySigner({ privateKey, certificates: [] }, '/keys/k.pem');
    const envelope = await signEnvelope('application/vnd.in-toto+json', Buffer.from('{"a":1}'), signer);
    assert.equal(verifyEnvelope(envelope, [other.publicKey, signer.publicKey]), signer.publicKey);
    assert.equal(verifyEnvelope(envelope, [other.publicKey]), undefined);
    assert.equal(verifyEnvelope({ ...envelope, payload: Buffer.from('{"a":2}').toString('base64') }, [signer.publicKey]), undefined);
    const bundle = sigstoreBundle(envelope, signer.hint);
    assert.equal(signer.hint, keyHint(signer.publicKey));
    assert.deepEqual(envelopeOf(JSON.parse(JSON.stringify(bundle))), envelope);
    assert.equal(envelopeOf({ ...bundle, mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1' }), undefined);
  });

  it('builds the artifact manifest with the empty config and the subject, the same every time', () => {
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 500 };
    const artifact = { artifactType: 'application/vnd.in-toto+json', content: Buffer.from('{}'), annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1' } };
    const { manifest, layer } = artifactManifest(artifact, subject);
    const parsed = JSON.parse(manifest.bytes.toString());
    assert.deepEqual(parsed.config, EMPTY_CONFIG);
    assert.deepEqual(parsed.subject, subject);
    assert.equal(parsed.artifactType, artifact.artifactType);
    assert.deepEqual(parsed.layers, [{ mediaType: artifact.artifactType, digest: layer.digest, size: 2 }]);
    assert.equal(EMPTY_CONFIG.digest, layer.digest, 'the empty config is the digest of {}');
    assert.equal(artifactManifest(artifact, subject).manifest.digest, manifest.digest);
    assert.equal(referrersTag(digest), `sha256-${'1'.repeat(64)}`);
  });

  it("keeps only well-formed descriptors from a peer's referrers list", () => {
    const good = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10, artifactType: 'x' };
    assert.deepEqual(referrerDescriptors({ manifests: [good, { ...good, digest: 'sha256:zz' }, { ...good, size: -1.5 }, null, 'text', { ...good, artifactType: 5 }] }), [good]);
    assert.deepEqual(referrerDescriptors({ manifests: 'none' }), []);
    assert.deepEqual(referrerDescriptors(null), []);
  });

  it('reads Key Vault key identifiers and their token audience', () => {
    assert.deepEqual(parseKeyVaultKeyId('https://kv1.vault.azure.net/keys/sign/0123456789abcdef0123456789abcdef'), { vault: new URL('https://kv1.vault.azure.net'), name: 'sign', version: '0123456789abcdef0123456789abcdef' });
    assert.equal(parseKeyVaultKeyId('https://kv1.vault.azure.net/keys/sign')?.version, undefined);
    for (const bad of ['http://kv1.vault.azure.net/keys/sign', 'https://kv1.vault.azure.net/secrets/sign', 'https://kv1.vault.azure.net/keys/sign?x=1', 'https://user:pw@kv1.vault.azure.net/keys/k', 'not a url']) assert.equal(parseKeyVaultKeyId(bad), undefined, bad);
    assert.equal(keyVaultScope(new URL('https://kv1.vault.azure.cn')), 'https://vault.azure.cn/.default');
    assert.equal(keyVaultScope(new URL('https://127.0.0.1:8443')), 'https://vault.azure.net/.default');
  });
});
