/**
 * Signed provenance through the bundled tasks as the agent runs them: Bake signs with a PEM key
 * and outputs the attestation's digests (checked by openssl and @sigstore/verify); Deploy with
 * requireProvenance rolls that image out and names the signer and the model in its summary, and
 * refuses an image without an attestation before it reaches the cluster.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, IN_TOTO, opensslVerifiesEnvelope, sigstoreVerifies, tagSchemaReferrers } from '../support/attestChecks';
import { MiB, tempRoot, writeModel } from '../support/bakeHarness';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { pushBaseImage } from '../support/registry/baseImages';
import { registryHolds } from '../support/registry/http';
import { skopeoInspect } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';

const bakeDir = join(__dirname, '..', '..', 'dist', 'tasks', 'BakeModelIntoImageV1');
const deployDir = join(__dirname, '..', '..', 'dist', 'tasks', 'DeployAiAppToAksV1');
const KUBE_TOKEN = 'e2e-provenance-kube-token-51c2';
const modelDigest = `sha256:${'e'.repeat(64)}`;

describe('Signed provenance e2e: Bake signs, Deploy checks (the bundles as the agent runs them)', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let cluster: ClusterSimulator;
  let root: string;
  let model: string;
  let keyFile: string;
  let publicPem: string;
  let trustedFile: string;

  before(async () => {
    registry = await startRegistry({ auth: 'basic', tls: true });
    cluster = await startClusterSimulator({ auth: { token: KUBE_TOKEN }, imageBehaviour: async (image) => ((await registryHolds(registry, image)) ? 'run' : 'pullError'), podReadyDelayMs: 100, loadBalancerDelayMs: 100 });
    root = tempRoot('provenance-e2e-');
    model = writeModel(root, { weightsBytes: 1 * MiB });
    await pushBaseImage(registry, 'churn-app', '1', 'oci');
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    keyFile = join(root, 'signing.pem');
    fs.writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    trustedFile = join(root, 'trusted.pem');
    fs.writeFileSync(trustedFile, publicPem);
  });
  after(async () => {
    await Promise.all([registry?.stop(), cluster?.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const registryEndpoint = () => ({ scheme: 'UsernamePassword', parameters: { registry: `https://${registry.host}`, username: registry.username!, password: registry.password! }, data: { registrytype: 'Others' } });
  const env = () => ({ NODE_EXTRA_CA_CERTS: join(registry.certDir!, 'ca.crt') });
  const deploy = (image: string) => runTask({
    taskDir: deployDir, env: env(),
    endpoints: { aks: { url: cluster.url, scheme: 'Kubernetes', parameters: { kubeconfig: cluster.kubeconfig() }, data: { authorizationType: 'Kubeconfig' } }, acr: registryEndpoint() },
    inputs: { kubernetesServiceConnection: 'aks', namespace: 'churn', appName: 'churn-app', containerPort: '8080', servicePort: '8080', containerRegistry: 'acr', image, modelVersion: '4.0.0', modelDigest, requireProvenance: 'true', trustedPublicKeys: trustedFile, rolloutTimeoutSeconds: '60', progressDeadlineSeconds: '5' },
  });

  it('Bake signs the attestation; Deploy verifies it, rolls out and names the signer and the model', async () => {
    const bake = await runTask({
      taskDir: bakeDir, env: env(),
      endpoints: { registry: registryEndpoint() },
      variables: { 'Build.BuildId': '42', 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'f00dcafe', 'Build.Repository.Uri': 'https://dev.azure.com/contoso/_git/churn' },
      inputs: { containerRegistry: 'registry', baseImage: `${registry.host}/churn-app:1`, image: `${registry.host}/churn-model`, tags: '42', modelPath: model, modelVersion: '4.0.0', modelDigest, modelUri: 'https://models.example/churn/4.0.0', signingKey: 'pemFile', signingKeyFile: keyFile },
    });
    assert.equal(bake.result.status, 'Succeeded', visibleOutput(bake));
    const digest = bake.outputs.imageDigest;
    const referrers = await tagSchemaReferrers(registry, 'churn-model', digest);
    assert.equal(referrers.find((entry) => entry.artifactType === IN_TOTO)?.digest, bake.outputs.provenanceDigest);
    const bundle = referrers.find((entry) => entry.artifactType === BUNDLE);
    assert.equal(bundle?.digest, bake.outputs.signatureDigest);
    const json = JSON.parse(bundle!.content.toString('utf8'));
    assert.ok(await opensslVerifiesEnvelope(join(root, 'openssl'), publicPem, json.dsseEnvelope), 'openssl verifies the signature');
    const { createPublicKey } = await import('node:crypto');
    sigstoreVerifies(json, createPublicKey(publicPem));
    const statement = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8'));
    assert.equal(statement.predicate.runDetails.builder.id, 'BakeModelIntoImage@1');
    assert.match(statement.predicate.runDetails.builder.version.BakeModelIntoImage, /^1\.\d+\.\d+$/);
    assert.equal(statement.predicate.runDetails.metadata.invocationId, 'https://dev.azure.com/contoso/churn/_build/results?buildId=42');
    const bakeSummary = bake.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary')?.content ?? '';
    assert.match(bakeSummary, /Signed by \| `key file signing\.pem: sha256:[a-f0-9]{64}`/);

    const run = await deploy(bake.outputs.imageRef);
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.match(visibleOutput(run), new RegExp(`Provenance of ${bake.outputs.imageRef.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} verified`));
    const summary = run.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary')?.content ?? '';
    assert.match(summary, /Provenance \| `signed by key [A-Za-z0-9+/=]+; model https:\/\/models\.example\/churn\/4\.0\.0 sha256:e{64}`/);
    assertNoSecrets(run, { 'kube token': KUBE_TOKEN, 'registry password': registry.password! });
  });

  it('Deploy refuses an image without an attestation before it reaches the cluster', async () => {
    const unsigned = `${registry.host}/churn-app@${(await skopeoInspect(registry, 'churn-app:1')).Digest}`;
    const requestsBefore = cluster.requests.length;
    const run = await deploy(unsigned);
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message, /has no signed provenance attestation/);
    assert.equal(cluster.requests.length, requestsBefore, 'nothing was sent to the cluster');
  });
});
