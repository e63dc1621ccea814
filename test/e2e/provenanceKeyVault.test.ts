/**
 * Bake signing with an Azure Key Vault key, the bundle run as the agent runs it: an AzureRM
 * connection gets an Entra token for Key Vault, the vault stand-in signs the digest (the private
 * key stays there), and openssl and @sigstore/verify check the bundle with the vault's public key.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { startAzureStandIns, type AzureStandIns } from '../support/azureStandIns';
import { BUNDLE, IN_TOTO, joseVerifiesNotary, NOTARY, opensslVerifiesEnvelope, sigstoreVerifies, tagSchemaReferrers } from '../support/attestChecks';
import { MiB, tempRoot, writeModel } from '../support/bakeHarness';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../support/keyVaultStandIn';
import { pushBaseImage } from '../support/registry/baseImages';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'BakeModelIntoImageV1');

describe('Bake signs provenance with an Azure Key Vault key (bundle, Entra and Key Vault stand-ins)', function () {
  this.timeout(180_000);
  let azure: AzureStandIns;
  let vault: KeyVaultStandIn;
  let registry: TestRegistry;
  let root: string;
  let model: string;

  before(async () => {
    root = tempRoot('provenance-kv-');
    azure = await startAzureStandIns(join(root, 'azure'));
    vault = await startKeyVaultStandIn({ tls: azure.ca, dir: join(root, 'vault'), verifyToken: azure.entra.verifyAccessToken, keys: { ecsign: { type: 'ec' }, rsasign: { type: 'rsa' }, certified: { type: 'ec', certificate: true }, rsacertified: { type: 'rsa', certificate: true }, locked: { type: 'ec', signers: ['someone-else'] } } });
    registry = await startRegistry({ auth: 'none' });
    model = writeModel(root, { weightsBytes: 1 * MiB });
    await pushBaseImage(registry, 'app', '1', 'oci');
  });
  after(async () => {
    await Promise.all([registry?.stop(), vault?.close(), azure?.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const bake = (target: string, keyVaultKeyId: string) => {
    const spec = azure.connections.secret;
    return runTask({
      taskDir,
      inputs: { baseImage: `${registry.host}/app:1`, image: `${registry.host}/${target}`, tags: '1', modelPath: model, allowInsecureRegistry: 'true', signingKey: 'azureKeyVault', keyVaultConnection: spec.id, keyVaultKeyId },
      endpoints: { [spec.id]: { url: spec.url, scheme: spec.scheme!, parameters: spec.auth, data: spec.data } },
      variables: { 'System.Debug': 'true', 'Build.BuildId': '42' },
      env: { ...azure.processEnv, ...azure.pipelineEnv },
    });
  };

  for (const [name, type] of [['ecsign', 'ECDSA P-256'], ['rsasign', 'RSA']] as const) {
    it(`signs with a ${type} key through keys/sign; openssl and @sigstore/verify check it with the vault's public key`, async () => {
      const run = await bake(`kv-${name}`, vault.keyId(name));
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.ok(vault.signatures.some((entry) => entry.key === name), 'the vault signed');
      const referrers = await tagSchemaReferrers(registry, `kv-${name}`, run.outputs.imageDigest);
      assert.ok(!referrers.some((entry) => entry.artifactType === NOTARY), 'a key without a certificate makes no Notary signature');
      const [bundle] = referrers.filter((entry) => entry.artifactType === BUNDLE);
      assert.equal(bundle.digest, run.outputs.signatureDigest);
      const json = JSON.parse(bundle.content.toString('utf8'));
      const publicPem = vault.publicKey(name).export({ type: 'spki', format: 'pem' }).toString();
      assert.ok(await opensslVerifiesEnvelope(join(root, `openssl-${name}`), publicPem, json.dsseEnvelope), 'openssl verifies the signature');
      sigstoreVerifies(json, vault.publicKey(name));
      assertNoSecrets(run, { 'client secret': azure.clientSecret, 'system access token': azure.systemAccessToken });
    });
  }

  for (const [name, alg] of [['certified', 'ES256'], ['rsacertified', 'PS256']] as const) {
    it(`adds a Notary Project signature (${alg}) when the Key Vault key has a certificate; jose and openssl check it`, async () => {
      const run = await bake(`kv-${name}`, vault.keyId(name));
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      const referrers = await tagSchemaReferrers(registry, `kv-${name}`, run.outputs.imageDigest);
      assert.deepEqual(referrers.map((entry) => entry.artifactType).sort(), [IN_TOTO, BUNDLE, NOTARY].sort());
      const notary = referrers.find((entry) => entry.artifactType === NOTARY)!;
      const verified = await joseVerifiesNotary(join(root, `jose-${name}`), JSON.parse(notary.content.toString('utf8')), vault.certificatePem(name)!);
      assert.equal(verified.targetArtifact.digest, run.outputs.imageDigest);
      assert.equal(verified.header.alg, alg);
    });
  }

  it('fails clearly, naming the connection input, when the identity may not sign with the key', async () => {
    const run = await bake('kv-locked', vault.keyId('locked'));
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message, /Key Vault refused sign for key .*locked.*input 'keyVaultConnection' may use the key/);
  });
});
