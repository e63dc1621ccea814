/**
 * Signers with no binaries: a PEM private key read with node:crypto, for users outside Azure. The
 * signature is over SHA-256 of the data: ECDSA P-256 in DER, or RSA PKCS#1 v1.5, as cosign makes them.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { constants, createPrivateKey, createPublicKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { SettingError } from '../errors';
import { keyHint, type Signer } from './dsse';

/** The settings a signer's failure names: the key file, or the Key Vault key and its connection. */
export type SigningSetting = 'signingKeyFile' | 'keyVaultKeyId' | 'keyVaultConnection';

/** Which keys we sign with: ECDSA on P-256, or RSA of 2048 bits or more. */
export function signingKeyProblem(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return details.namedCurve === 'prime256v1' ? undefined : `an ECDSA key on ${details.namedCurve ?? 'an unknown curve'}; only P-256 (prime256v1) is accepted`;
  if (key.asymmetricKeyType === 'rsa') return (details.modulusLength ?? 0) >= 2048 ? undefined : `an RSA key of ${details.modulusLength} bits; at least 2048 are needed`;
  return `a ${key.asymmetricKeyType ?? 'secret'} key; an ECDSA P-256 or RSA private key is needed`;
}

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** Certificates in the same PEM file, leaf first: the leaf must be the key's. */
  readonly certificates: readonly X509Certificate[];
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}

/** Reads and checks a PEM private key (and any certificate chain beside it) at once, so a bad key file fails before anything is pushed. */
export function readSigningKey(file: string): SigningKey {
  let privateKey: KeyObject;
  let certificates: X509Certificate[];
  try {
    const text = readFileSync(file, 'utf8');
    privateKey = createPrivateKey({ key: text, format: 'pem' });
    certificates = [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map(([block]) => new X509Certificate(block));
  } catch (error) {
    throw new SettingError<SigningSetting>('signingKeyFile', 'SigningKeyUnreadable', [file, (error as Error).message], { cause: error });
  }
  const problem = signingKeyProblem(privateKey);
  if (problem) throw new SettingError<SigningSetting>('signingKeyFile', 'SigningKeyUnsupported', [file, problem]);
  if (certificates.length > 0 && !sameKey(certificates[0].publicKey, createPublicKey(privateKey))) {
    throw new SettingError<SigningSetting>('signingKeyFile', 'SigningKeyUnsupported', [file, 'a key whose file holds a certificate for another key; put the certificate of this key first, then its chain']);
  }
  return { privateKey, certificates };
}

/** A signer over a private key held in this process. */
export function keySigner({ privateKey, certificates }: SigningKey, file: string): Signer {
  const publicKey = createPublicKey(privateKey);
  const ec = privateKey.asymmetricKeyType === 'ec';
  return {
    hint: keyHint(publicKey),
    publicKey,
    description: `key file ${path.basename(file)}`,
    sign: async (data) => sign('sha256', data, privateKey),
    signJws: async (data) => ec
      ? { alg: 'ES256', signature: sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }) }
      : { alg: 'PS256', signature: sign('sha256', data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) },
    ...(certificates.length > 0 ? { certificates } : {}),
  };
}

export async function pemFileSigner(file: string): Promise<Signer> {
  return keySigner(readSigningKey(file), file);
}
