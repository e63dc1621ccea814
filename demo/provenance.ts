/**
 * The demo's provenance act: Bake signs the attestation with a PEM key, the demo shows what is
 * attached to the image (skopeo) and checks the signature with openssl, and Deploy with
 * requireProvenance refuses an image that has no signed attestation, before it reaches any cluster.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, IN_TOTO, opensslVerifiesEnvelope, tagSchemaReferrers } from '../test/support/attestChecks';
import type { TestRegistry } from '../test/support/registry/registry';
import { runTask, type TaskRun } from '../test/support/taskRunner';
import type { Show } from './deploy';

const bakeDir = join(__dirname, '..', 'dist', 'tasks', 'BakeModelIntoImageV1');
const deployDir = join(__dirname, '..', 'dist', 'tasks', 'DeployAiAppToAksV1');

/** Signs a bake, shows its attestation, and shows Deploy refusing `unsigned`. Returns the report line. */
export async function provenanceDemo(registry: TestRegistry, fetched: TaskRun, unsigned: TaskRun, work: string, show: Show): Promise<string> {
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyFile = join(work, 'provenance-signing.pem');
  const trusted = join(work, 'provenance-keys.pem');
  writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(trusted, publicPem);
  const signed = await runTask({
    taskDir: bakeDir,
    inputs: { baseImage: `${registry.host}/churn-app:app-1`, image: `${registry.host}/churn-app`, tags: '103', modelPath: fetched.outputs.modelPath, modelVersion: fetched.outputs.modelVersion, modelDigest: fetched.outputs.modelDigest, modelUri: fetched.outputs.modelUri, allowInsecureRegistry: 'true', signingKey: 'pemFile', signingKeyFile: keyFile },
    variables: { 'System.Debug': 'false', 'Build.BuildId': '103', 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'c0ffee' },
  });
  show(`BakeModelIntoImage@1 (model ${fetched.outputs.modelVersion}, signed with a PEM key)`, signed);
  const referrers = await tagSchemaReferrers(registry, 'churn-app', signed.outputs.imageDigest);
  console.log(`\nskopeo inspect --raw churn-app:${signed.outputs.imageDigest.replace(':', '-')} (the referrers tag index) lists:`);
  for (const entry of referrers) console.log(`  ${entry.artifactType.padEnd(45)} ${entry.digest}`);
  const bundle = JSON.parse(referrers.find((entry) => entry.artifactType === BUNDLE)!.content.toString('utf8'));
  const statement = JSON.parse(referrers.find((entry) => entry.artifactType === IN_TOTO)!.content.toString('utf8'));
  const dependencies = statement.predicate.buildDefinition.resolvedDependencies as { name: string; uri?: string; digest: Record<string, string> }[];
  console.log(`The statement: ${statement.predicateType} about ${statement.subject[0].name}@sha256:${statement.subject[0].digest.sha256.slice(0, 12)}…, built by ${statement.predicate.runDetails.builder.id}`);
  for (const entry of dependencies) console.log(`  ${entry.name.padEnd(22)} ${entry.uri ?? ''} ${Object.entries(entry.digest).map(([algorithm, value]) => `${algorithm}:${value.slice(0, 12)}…`).join(' ')}`);
  const verified = await opensslVerifiesEnvelope(join(work, 'openssl'), publicPem, bundle.dsseEnvelope);
  console.log(`openssl dgst -sha256 -verify on the bundle's DSSE signature: ${verified ? 'Verified OK' : 'FAILED'}`);
  if (!verified) throw new Error('openssl did not verify the provenance signature');

  const refused = await runTask({
    taskDir: deployDir,
    // The gate runs before the cluster is reached: this connection is never used.
    endpoints: { aks: { url: 'https://127.0.0.1:9', scheme: 'Kubernetes', parameters: { kubeconfig: 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n' }, data: { authorizationType: 'Kubeconfig' } } },
    inputs: { kubernetesServiceConnection: 'aks', namespace: 'churn', appName: 'churn-app', image: unsigned.outputs.imageRef, modelDigest: fetched.outputs.modelDigest, requireProvenance: 'true', trustedPublicKeys: trusted, allowInsecureRegistry: 'true' },
    variables: { 'System.Debug': 'false' },
  });
  show('DeployAiAppToAks@1 (requireProvenance, an image baked without signing)', refused, 'Failed');
  console.log(`  -> ${refused.result.message}`);
  return `Signed provenance ${signed.outputs.signatureDigest} attached to ${signed.outputs.imageRef}; Deploy refused the unsigned ${unsigned.outputs.imageRef}.`;
}
