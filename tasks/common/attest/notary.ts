/**
 * A Notary Project signature (JWS envelope, signing scheme notary.x509) over the image's
 * descriptor, made when the signing key has a certificate: what `notation verify` checks against
 * its trust store. The certificate chain travels in the unprotected header's x5c.
 */
import { createHash } from 'node:crypto';
import type { Descriptor } from '../oci/layer';
import type { Signer } from './dsse';
import type { Artifact } from './referrers';

export const NOTARY_SIGNATURE = 'application/vnd.cncf.notary.signature';
export const NOTARY_PAYLOAD = 'application/vnd.cncf.notary.payload.v1+json';
export const JWS_MEDIA_TYPE = 'application/jose+json';
const THUMBPRINTS = 'io.cncf.notary.x509chain.thumbprint#S256';

function base64url(value: Buffer | string): string {
  return Buffer.from(value).toString('base64url');
}

/** The JWS (flattened JSON serialisation) and the referrer that carries it. `signingTime` is RFC 3339 in seconds. */
export async function notarySignature(subject: Descriptor, signer: Signer, signingTime: string, signingAgent: string): Promise<Artifact | undefined> {
  const chain = signer.certificates ?? [];
  if (chain.length === 0) return undefined;
  const payload = base64url(JSON.stringify({ targetArtifact: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }));
  // The algorithm is the key's, and signJws signs with that one: ES256 for EC keys, PS256 for RSA.
  const protectedHeader = base64url(JSON.stringify({
    alg: signer.publicKey.asymmetricKeyType === 'ec' ? 'ES256' : 'PS256',
    crit: ['io.cncf.notary.signingScheme'],
    cty: NOTARY_PAYLOAD,
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': signingTime,
  }));
  const signed = await signer.signJws(Buffer.from(`${protectedHeader}.${payload}`));
  const jws = {
    payload,
    protected: protectedHeader,
    header: { x5c: chain.map((certificate) => certificate.raw.toString('base64')), 'io.cncf.notary.signingAgent': signingAgent },
    signature: base64url(signed.signature),
  };
  const thumbprints = chain.map((certificate) => createHash('sha256').update(certificate.raw).digest('hex'));
  return { artifactType: NOTARY_SIGNATURE, layerMediaType: JWS_MEDIA_TYPE, content: Buffer.from(JSON.stringify(jws)), annotations: { [THUMBPRINTS]: JSON.stringify(thumbprints) } };
}
