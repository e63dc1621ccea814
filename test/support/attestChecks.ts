/**
 * Independent checks of what Bake attaches: the referrers as skopeo shows them, the bundle's
 * signature as openssl verifies it, and the bundle as @sigstore/bundle and @sigstore/verify read it
 * with a key-based trust root. None of them uses our own parser or verifier.
 */
import { strict as assert } from 'node:assert';
import { createHash, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier, type TrustMaterial } from '@sigstore/verify';
import { basicAuth, rawRequest } from './registry/http';
import { skopeoInspectRaw } from './registry/imageTools';
import type { TestRegistry } from './registry/registry';
import { run } from './registry/run';

export const IN_TOTO = 'application/vnd.in-toto+json';
export const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export interface Referrer {
  readonly digest: string;
  readonly artifactType: string;
  readonly manifest: { subject: { digest: string }; layers: { digest: string; mediaType: string }[]; artifactType: string; annotations?: Record<string, string> };
  readonly content: Buffer;
}

/** A blob's bytes, as the registry serves them (no auth), checked against its digest. */
export async function registryBlob(registry: Pick<TestRegistry, 'url' | 'caPem' | 'username' | 'password'>, repository: string, digest: string): Promise<Buffer> {
  const headers = registry.username ? { authorization: basicAuth(registry.username, registry.password ?? '') } : {};
  const response = await rawRequest(`${registry.url}/v2/${repository}/blobs/${digest}`, { ca: registry.caPem, headers });
  assert.equal(response.status, 200, `blob ${digest}: ${response.body}`);
  const bytes = Buffer.from(response.body, 'utf8');
  assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest);
  return bytes;
}

/** The referrers of `subject` in the referrers tag schema, read with skopeo inspect --raw. */
export async function tagSchemaReferrers(registry: TestRegistry, repository: string, subject: string): Promise<Referrer[]> {
  const index = JSON.parse(await skopeoInspectRaw(registry, `${repository}:${subject.replace(':', '-')}`)) as { mediaType: string; manifests: { digest: string; artifactType: string }[] };
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  const referrers: Referrer[] = [];
  for (const entry of index.manifests) {
    const manifest = JSON.parse(await skopeoInspectRaw(registry, `${repository}@${entry.digest}`)) as Referrer['manifest'];
    assert.equal(manifest.subject.digest, subject, 'the artifact names the image as its subject');
    assert.equal(manifest.artifactType, entry.artifactType);
    referrers.push({ digest: entry.digest, artifactType: entry.artifactType, manifest, content: await registryBlob(registry, repository, manifest.layers[0].digest) });
  }
  return referrers;
}

/** `openssl dgst -sha256 -verify`: the DSSE signature over PAE(payloadType, payload). */
export async function opensslVerifiesEnvelope(dir: string, publicKeyPem: string, envelope: { payload: string; payloadType: string; signatures: { sig: string }[] }): Promise<boolean> {
  const payload = Buffer.from(envelope.payload, 'base64');
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(envelope.payloadType)} ${envelope.payloadType} ${payload.length} `), payload]);
  fs.mkdirSync(dir, { recursive: true });
  const files = { key: path.join(dir, 'key.pem'), pae: path.join(dir, 'pae.bin'), sig: path.join(dir, 'sig.bin') };
  fs.writeFileSync(files.key, publicKeyPem);
  fs.writeFileSync(files.pae, pae);
  fs.writeFileSync(files.sig, Buffer.from(envelope.signatures[0].sig, 'base64'));
  const result = await run('openssl', ['dgst', '-sha256', '-verify', files.key, '-signature', files.sig, files.pae]).catch((error: Error) => ({ stdout: error.message }));
  return /Verified OK/.test(result.stdout);
}

/** @sigstore/verify with a trust root of one public key: no certificate, log or timestamp needed. */
export function sigstoreVerifies(bundleJson: unknown, publicKey: KeyObject): void {
  const bundle = bundleFromJSON(bundleJson);
  const trust: TrustMaterial = {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => ({ publicKey, validFor: () => true }),
  };
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
}

export const NOTARY = 'application/vnd.cncf.notary.signature';

/**
 * The npm package jose checks a Notary Project JWS (flattened JSON) with the leaf certificate's
 * key, knowing the critical notary header; openssl checks the x5c chain to its root. Returns the payload.
 */
export async function joseVerifiesNotary(dir: string, jws: { header: { x5c: string[] } }, rootPem: string): Promise<{ targetArtifact: { digest: string; mediaType: string; size: number }; header: Record<string, unknown> }> {
  const jose = await import('jose');
  const pems = jws.header.x5c.map((der) => `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
  const key = await jose.importX509(pems[0], (JSON.parse(Buffer.from((jws as unknown as { protected: string }).protected, 'base64url').toString()) as { alg: string }).alg);
  const verified = await jose.flattenedVerify(jws as unknown as Parameters<typeof jose.flattenedVerify>[0], key, { crit: { 'io.cncf.notary.signingScheme': true } });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'root.pem'), rootPem);
  fs.writeFileSync(path.join(dir, 'chain.pem'), pems.slice(1).join(''));
  fs.writeFileSync(path.join(dir, 'leaf.pem'), pems[0]);
  const untrusted = pems.length > 1 ? ['-untrusted', path.join(dir, 'chain.pem')] : [];
  const chain = await run('openssl', ['verify', '-CAfile', path.join(dir, 'root.pem'), ...untrusted, path.join(dir, 'leaf.pem')]);
  assert.match(chain.stdout, /leaf\.pem: OK/, 'openssl verifies the certificate chain');
  return { ...(JSON.parse(Buffer.from(verified.payload).toString('utf8')) as { targetArtifact: { digest: string; mediaType: string; size: number } }), header: verified.protectedHeader as Record<string, unknown> };
}

/** A root CA and a code-signing leaf certificate for `keyFile`'s key, made by openssl; the key file gets the leaf and the root appended. */
export async function certifySigningKey(dir: string, keyFile: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const at = (name: string) => path.join(dir, name);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at('root.key'), '-out', at('root.pem'), '-days', '2', '-subj', '/CN=Provenance Test Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', '-new', '-key', keyFile, '-out', at('leaf.csr'), '-subj', '/CN=Provenance Signer/O=Contoso']);
  fs.writeFileSync(at('leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n');
  await run('openssl', ['x509', '-req', '-in', at('leaf.csr'), '-CA', at('root.pem'), '-CAkey', at('root.key'), '-CAcreateserial', '-out', at('leaf.pem'), '-days', '1', '-extfile', at('leaf.ext')]);
  fs.appendFileSync(keyFile, fs.readFileSync(at('leaf.pem'), 'utf8') + fs.readFileSync(at('root.pem'), 'utf8'));
  return fs.readFileSync(at('root.pem'), 'utf8');
}
