/**
 * Signers with no binaries: a PEM private key read with node:crypto, for users outside Azure. The
 * signature is over SHA-256 of the data: ECDSA P-256 in DER, or RSA PKCS#1 v1.5, as cosign makes them.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
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

/** Reads and checks a PEM private key at once, so a bad key file fails before anything is pushed. */
export function readSigningKey(file: string): KeyObject {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: readFileSync(file), format: 'pem' });
  } catch (error) {
    throw new SettingError<SigningSetting>('signingKeyFile', 'SigningKeyUnreadable', [file, (error as Error).message], { cause: error });
  }
  const problem = signingKeyProblem(privateKey);
  if (problem) throw new SettingError<SigningSetting>('signingKeyFile', 'SigningKeyUnsupported', [file, problem]);
  return privateKey;
}

/** A signer over a private key held in this process. */
export function keySigner(privateKey: KeyObject, file: string): Signer {
  const publicKey = createPublicKey(privateKey);
  return {
    hint: keyHint(publicKey),
    publicKey,
    description: `key file ${path.basename(file)}`,
    sign: async (data) => sign('sha256', data, privateKey),
  };
}

export async function pemFileSigner(file: string): Promise<Signer> {
  return keySigner(readSigningKey(file), file);
}
