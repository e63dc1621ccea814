/**
 * DSSE (Dead Simple Signing Envelope) v1: the pre-authentication encoding that is signed, and the
 * envelope that carries the payload and its signatures. The payload is signed exactly as sent.
 */
import { createHash, createPublicKey, verify, type KeyObject, type X509Certificate } from 'node:crypto';

export interface DsseSignature {
  readonly keyid: string;
  /** base64 of the signature bytes: DER for ECDSA, PKCS#1 v1.5 for RSA. */
  readonly sig: string;
}

export interface DsseEnvelope {
  /** base64 of the payload bytes. */
  readonly payload: string;
  readonly payloadType: string;
  readonly signatures: readonly DsseSignature[];
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal bytes. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** Something that signs bytes with SHA-256 and says which public key checks it. */
export interface Signer {
  /** A short, stable name of the key: base64 of the SHA-256 of its public key (DER, SPKI). */
  readonly hint: string;
  readonly publicKey: KeyObject;
  /** Who signs, for the run summary: a file name or a Key Vault key id. */
  readonly description: string;
  /** A signature over SHA-256(data): DER for ECDSA, PKCS#1 v1.5 for RSA. */
  sign(data: Buffer): Promise<Buffer>;
  /** A JWS signature over data: ES256 (r||s) for ECDSA, PS256 (RSASSA-PSS) for RSA, as Notary Project signatures use. */
  signJws(data: Buffer): Promise<{ readonly alg: 'ES256' | 'PS256'; readonly signature: Buffer }>;
  /** The key's certificate and its chain, leaf first, when it has one. */
  readonly certificates?: readonly X509Certificate[];
}

export async function signEnvelope(payloadType: string, payload: Buffer, signer: Signer): Promise<DsseEnvelope> {
  const signature = await signer.sign(preAuthEncoding(payloadType, payload));
  return { payload: payload.toString('base64'), payloadType, signatures: [{ keyid: '', sig: signature.toString('base64') }] };
}

/** SHA-256 of the key's SubjectPublicKeyInfo, base64: the bundle's key hint. */
export function keyHint(publicKey: KeyObject): string {
  const der = (publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/** The first trusted key any signature of the envelope verifies with, or undefined. */
export function verifyEnvelope(envelope: DsseEnvelope, trusted: readonly KeyObject[]): KeyObject | undefined {
  const signed = preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, 'base64'));
  for (const { sig } of envelope.signatures) {
    const signature = Buffer.from(sig, 'base64');
    const key = trusted.find((candidate) => {
      try {
        return verify('sha256', signed, candidate, signature);
      } catch {
        return false;
      }
    });
    if (key) return key;
  }
  return undefined;
}
