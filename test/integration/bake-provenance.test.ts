/**
 * Bake's provenance attestation against the real CNCF distribution registry (referrers tag schema),
 * checked by skopeo, openssl, @sigstore/bundle + @sigstore/verify and sha256sum, never by our own
 * parser; and two writers attaching to one digest at once both end up in the tag index.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attachReferrer } from '../../tasks/common/attest/referrers';
import { pemFileSigner } from '../../tasks/common/attest/signer';
import { bakeModel, registryClient } from '../../tasks/common/oci/bake';
import { MediaType } from '../../tasks/common/oci/mediaTypes';
import { BUNDLE, certifySigningKey, IN_TOTO, joseVerifiesNotary, NOTARY, opensslVerifiesEnvelope, sigstoreVerifies, tagSchemaReferrers } from '../support/attestChecks';
import { bakeOptions, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { pushBaseImage } from '../support/registry/baseImages';
import { skopeoInspectRaw } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { run } from '../support/registry/run';

const builder = { id: 'BakeModelIntoImage@1', version: '1.2.0' };

function keyFiles(root: string, name: string) {
  const type = name.endsWith('rsa') ? 'rsa' : 'ec';
  const pair = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const file = path.join(root, `${name}-key.pem`);
  fs.writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { file, publicKey: pair.publicKey, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The statement without its run times: the part that must be byte-for-byte the same. */
function withoutTimes(statement: Buffer): string {
  const parsed = JSON.parse(statement.toString('utf8'));
  delete parsed.predicate.runDetails.metadata.startedOn;
  delete parsed.predicate.runDetails.metadata.finishedOn;
  return JSON.stringify(parsed);
}

describe('Bake attaches signed provenance (docker-registry: referrers tag schema)', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let root: string;
  let model: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot('bake-provenance-');
    model = writeModel(root, { weightsBytes: 2 * MiB });
    await pushBaseImage(registry, 'app', '1', 'index');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const type of ['ec', 'rsa'] as const) {
    it(`attests the index and each platform, signed with a ${type.toUpperCase()} PEM key; openssl, @sigstore and skopeo agree`, async () => {
      const key = keyFiles(root, type);
      const modelDigest = `sha256:${'c'.repeat(64)}`;
      const options = bakeOptions(registry, {
        base: 'app:1', target: `baked-${type}`, modelPath: model, tags: ['v1'],
        bake: { modelDirectory: '/models', modelVersion: '3.0.0', modelDigest, setModelEnv: true, labels: {}, created: '1970-01-01T00:00:00Z', pipelineRun: { sourceUrl: 'https://dev.azure.com/contoso/_git/churn', revision: 'f00dcafe', runUrl: 'https://dev.azure.com/contoso/churn/_build/results?buildId=42' } },
        provenance: { builder, modelUri: 'https://models.example/churn/3.0.0', signer: () => pemFileSigner(key.file) },
      });
      const result = await bakeModel(options, recordingContext());
      assert.equal(result.mediaType, MediaType.ociIndex);
      const attestation = result.attestation!;
      assert.equal(attestation.path, 'tagSchema', 'docker-registry has no referrers API');
      assert.equal(attestation.subjects, 3, 'the index and its two platform manifests');
      const index = JSON.parse(await skopeoInspectRaw(registry, `baked-${type}@${result.digest}`)) as { manifests: { digest: string }[] };
      for (const subject of [result.digest, ...index.manifests.map((entry) => entry.digest)]) {
        const referrers = await tagSchemaReferrers(registry, `baked-${type}`, subject);
        assert.deepEqual(referrers.map((entry) => entry.artifactType).sort(), [BUNDLE, IN_TOTO].sort());
        const statementArtifact = referrers.find((entry) => entry.artifactType === IN_TOTO)!;
        const bundleArtifact = referrers.find((entry) => entry.artifactType === BUNDLE)!;
        if (subject === result.digest) {
          assert.equal(statementArtifact.digest, attestation.provenanceDigest);
          assert.equal(bundleArtifact.digest, attestation.signatureDigest);
        }
        const bundle = JSON.parse(bundleArtifact.content.toString('utf8'));
        assert.ok(await opensslVerifiesEnvelope(path.join(root, `openssl-${type}`), key.publicPem, bundle.dsseEnvelope), 'openssl verifies the DSSE signature');
        sigstoreVerifies(bundle, key.publicKey);
        const signed = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
        assert.ok(signed.equals(statementArtifact.content), 'the bundle signs exactly the attached statement');
        const statement = JSON.parse(signed.toString('utf8'));
        assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
        assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v1');
        assert.deepEqual(statement.subject, [{ name: `${registry.host}/baked-${type}`, digest: { sha256: subject.slice(7) } }]);
        const dependencies = statement.predicate.buildDefinition.resolvedDependencies as { name: string; uri?: string; digest: Record<string, string> }[];
        assert.equal(dependencies.find((entry) => entry.name === 'model')?.digest.sha256, 'c'.repeat(64));
        assert.equal(dependencies.find((entry) => entry.name === 'model')?.uri, 'https://models.example/churn/3.0.0');
        assert.deepEqual(dependencies.find((entry) => entry.name === 'source'), { name: 'source', uri: 'git+https://dev.azure.com/contoso/_git/churn', digest: { gitCommit: 'f00dcafe' } });
        assert.match(dependencies.find((entry) => entry.name === 'baseImage')?.digest.sha256 ?? '', /^[a-f0-9]{64}$/);
        const sums = (await run('sha256sum', ['config.json', 'tokenizer/vocab.txt', 'weights.bin'].map((file) => path.join(model, file)))).stdout.trim().split('\n');
        for (const line of sums) {
          const [hex, file] = line.split(/\s+/);
          assert.equal(dependencies.find((entry) => entry.name === `model/${path.relative(model, file)}`)?.digest.sha256, hex, `${file} digest as sha256sum computes it`);
        }
        assert.equal(statement.predicate.runDetails.builder.id, 'BakeModelIntoImage@1');
        assert.equal(statement.predicate.runDetails.metadata.invocationId, 'https://dev.azure.com/contoso/churn/_build/results?buildId=42');
      }
    });
  }

  for (const type of ['ec', 'rsa'] as const) {
    it(`adds a Notary Project JWS signature when the ${type.toUpperCase()} key has a certificate; jose checks it and openssl the chain`, async () => {
      const key = keyFiles(root, `notary-${type}`);
      const rootPem = await certifySigningKey(path.join(root, `ca-${type}`), key.file);
      const options = bakeOptions(registry, { base: 'app:1', target: `notary-${type}`, modelPath: model, tags: ['v1'], provenance: { builder, signer: () => pemFileSigner(key.file) } });
      const result = await bakeModel(options, recordingContext());
      const notary = (await tagSchemaReferrers(registry, `notary-${type}`, result.digest)).find((entry) => entry.artifactType === NOTARY);
      assert.ok(notary, 'a Notary Project signature is among the referrers');
      assert.equal(notary.digest, result.attestation!.notaryDigest);
      assert.equal(notary.manifest.layers[0].mediaType, 'application/jose+json');
      const jws = JSON.parse(notary.content.toString('utf8'));
      assert.equal(jws.header.x5c.length, 2, 'the leaf and its root');
      const verified = await joseVerifiesNotary(path.join(root, `jose-${type}`), jws, rootPem);
      const raw = await skopeoInspectRaw(registry, `notary-${type}@${result.digest}`);
      assert.deepEqual(verified.targetArtifact, { mediaType: MediaType.ociIndex, digest: result.digest, size: Buffer.byteLength(raw) });
      assert.equal(verified.header.alg, type === 'ec' ? 'ES256' : 'PS256');
      assert.equal(verified.header['io.cncf.notary.signingScheme'], 'notary.x509');
      assert.equal(verified.header.cty, 'application/vnd.cncf.notary.payload.v1+json');
      const thumbprints = JSON.parse(notary.manifest.annotations!['io.cncf.notary.x509chain.thumbprint#S256']);
      assert.equal(thumbprints.length, 2);
    });
  }

  it('makes the same statement, apart from its run times, when the same bake runs again', async () => {
    const options = bakeOptions(registry, { base: 'app:1', target: 'baked-again', modelPath: model, tags: ['v1'], provenance: { builder } });
    const first = await bakeModel(options, recordingContext());
    const second = await bakeModel(options, recordingContext());
    assert.equal(first.digest, second.digest);
    assert.equal(first.attestation!.signatureDigest, undefined, 'no signer, no signature');
    const statements = await Promise.all([first, second].map(async (result) => (await tagSchemaReferrers(registry, 'baked-again', result.digest)).filter((entry) => entry.artifactType === IN_TOTO)));
    const texts = new Set(statements.flat().map((entry) => withoutTimes(entry.content)));
    assert.equal(texts.size, 1, 'every statement for one digest says the same');
  });

  it('keeps both referrers when two pipelines attach to one digest at once (read back and retry)', async () => {
    const options = bakeOptions(registry, { base: 'app:1', target: 'raced', modelPath: model, tags: ['v1'] });
    const result = await bakeModel(options, recordingContext());
    const manifest = await skopeoInspectRaw(registry, `raced@${result.digest}`);
    const subject = { mediaType: MediaType.ociIndex, digest: result.digest, size: Buffer.byteLength(manifest) };
    const context = recordingContext();
    const client = registryClient(registry.host, ['repository:raced:pull,push'], options.registry, options.registry.credential, context, new AbortController().signal);
    const writers = Array.from({ length: 6 }, (_, n) => attachReferrer(client, 'raced', subject, { artifactType: IN_TOTO, content: Buffer.from(`{"writer":${n}}`), annotations: {} }));
    const attached = await Promise.all(writers);
    const listed = await tagSchemaReferrers(registry, 'raced', result.digest);
    assert.deepEqual(listed.map((entry) => entry.digest).sort(), attached.map((entry) => entry.digest).sort(), 'every writer is in the tag index');
  });
});
