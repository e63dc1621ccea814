/**
 * A signer backed by an Azure Key Vault key: the public key is read from the vault, and every
 * signature is Key Vault's `keys/sign` over our SHA-256 digest, so the private key never leaves
 * the vault. Requests go through the network layer with an Entra token for Key Vault's audience.
 */
import { createHash, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { RemoteError, SettingError } from '../errors';
import { BODY_LIMITS } from '../net/body';
import type { Network } from '../net/network';
import { retry, type RetryPolicy } from '../net/retry';
import { keyHint, type Signer } from './dsse';
import { signingKeyProblem, type SigningSetting } from './signer';

const API_VERSION = '7.4';

export interface KeyVaultKey {
  /** https://<vault>/keys/<name>[/<version>] */
  readonly vault: URL;
  readonly name: string;
  readonly version?: string;
}

/** Parses a key identifier; undefined when it is not one. */
export function parseKeyVaultKeyId(text: string): KeyVaultKey | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const match = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9a-f]{32}))?\/?$/.exec(url.pathname);
  if (url.protocol !== 'https:' || !match || url.search || url.hash || url.username || url.password) return undefined;
  return { vault: new URL(url.origin), name: match[1], ...(match[2] ? { version: match[2] } : {}) };
}

/** The token audience of a vault: its DNS suffix (vault.azure.net, vault.azure.cn, ...), else the public cloud's. */
export function keyVaultScope(vault: URL): string {
  const suffix = /^[^.]+\.(vault\.[a-z0-9.-]+)$/i.exec(vault.hostname)?.[1];
  return `https://${suffix ?? 'vault.azure.net'}/.default`;
}

export interface KeyVaultDeps {
  readonly credential: TokenCredential;
  readonly network: Network;
  readonly signal: AbortSignal;
  readonly retryPolicy: RetryPolicy;
  readonly onSecret: (value: string) => void;
}

/** ES256 needs DER on our side; Key Vault answers r||s (IEEE P1363). */
function derOfP1363(signature: Buffer): Buffer {
  const integer = (bytes: Buffer) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const trimmed = bytes.subarray(start);
    const body = trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const half = signature.length / 2;
  const sequence = Buffer.concat([integer(signature.subarray(0, half)), integer(signature.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, sequence.length]), sequence]);
}

/** One Key Vault request with a token for its audience; a status in `absent` resolves undefined. */
async function call<T>(key: KeyVaultKey, keyId: string, what: string, deps: KeyVaultDeps, request: { method: 'GET' | 'POST'; path: string; body?: unknown; absent?: readonly number[] }): Promise<T> {
  const token = await deps.credential.getToken(keyVaultScope(key.vault), { abortSignal: deps.signal });
  if (!token) throw new SettingError<SigningSetting>('keyVaultConnection', 'KeyVaultRequestFailed', [what, keyId, 'no Entra token was returned']);
  deps.onSecret(token.token);
  const url = new URL(`${request.path}?api-version=${API_VERSION}`, key.vault);
  const body = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body));
  return retry(async () => {
    const response = await deps.network.send({
      method: request.method,
      url,
      headers: { authorization: `Bearer ${token.token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}) },
      body,
      signal: deps.signal,
    });
    if (request.absent?.includes(response.status)) {
      await response.discard();
      return undefined as T;
    }
    if (response.status === 401 || response.status === 403) {
      const error = await response.statusError();
      throw new SettingError<SigningSetting>('keyVaultConnection', 'KeyVaultRequestFailed', [what, keyId, error.message]);
    }
    if (response.status !== 200) throw await response.statusError();
    return response.json<T>(BODY_LIMITS.json, `Key Vault's answer to ${what}`);
  }, deps.retryPolicy, { signal: deps.signal });
}

function publicKeyOf(jwk: JsonWebKey | undefined, keyId: string): KeyObject {
  const kty = String(jwk?.kty ?? '').replace(/-HSM$/, '');
  try {
    if (kty !== 'EC' && kty !== 'RSA') throw new Error(`a ${jwk?.kty ?? 'missing'} key`);
    return createPublicKey({ key: { ...jwk, kty } as JsonWebKey, format: 'jwk' });
  } catch (error) {
    throw new RemoteError('KeyVaultKeyUnsupported', [keyId, (error as Error).message]);
  }
}

/**
 * A key made for a Key Vault certificate has that certificate under the same name and version.
 * Key Vault keeps only the leaf: a self-signed one, or one whose chain the verifier already trusts.
 * Absent (404), or not readable by this identity (403): no certificate, so no Notary signature.
 */
async function certificateOf(key: KeyVaultKey, keyId: string, version: string | undefined, publicKey: KeyObject, deps: KeyVaultDeps): Promise<X509Certificate[] | undefined> {
  if (!version) return undefined;
  const answer = await call<{ cer?: string } | undefined>(key, keyId, 'get certificate', deps, { method: 'GET', path: `/certificates/${key.name}/${version}`, absent: [403, 404] });
  if (!answer?.cer) return undefined;
  try {
    const certificate = new X509Certificate(Buffer.from(answer.cer, 'base64'));
    const same = certificate.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }));
    return same ? [certificate] : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the key's public half and returns a signer that asks the vault for each signature. */
export async function keyVaultSigner(keyId: string, deps: KeyVaultDeps): Promise<Signer> {
  const key = parseKeyVaultKeyId(keyId);
  if (!key) throw new SettingError<SigningSetting>('keyVaultKeyId', 'KeyVaultKeyIdInvalid', [keyId]);
  const path = `/keys/${key.name}${key.version ? `/${key.version}` : ''}`;
  const answer = await call<{ key?: JsonWebKey & { kid?: string } }>(key, keyId, 'get key', deps, { method: 'GET', path });
  const publicKey = publicKeyOf(answer.key, keyId);
  const problem = signingKeyProblem(publicKey);
  if (problem) throw new RemoteError('KeyVaultKeyUnsupported', [keyId, problem]);
  // Sign with the version read, so a rotation between the two calls cannot mix keys.
  const version = /\/keys\/[^/]+\/([0-9a-f]{32})$/.exec(String(answer.key?.kid ?? ''))?.[1] ?? key.version;
  const signPath = `/keys/${key.name}${version ? `/${version}` : ''}/sign`;
  const ec = publicKey.asymmetricKeyType === 'ec';
  const certificates = await certificateOf(key, keyId, version, publicKey, deps);
  return {
    ...(certificates ? { certificates } : {}),
    hint: keyHint(publicKey),
    publicKey,
    description: `Key Vault key ${key.vault.host}/keys/${key.name}${version ? `/${version}` : ''}`,
    async sign(data) {
      const digest = createHash('sha256').update(data).digest('base64url');
      const signed = await call<{ value?: string }>(key, keyId, 'sign', deps, { method: 'POST', path: signPath, body: { alg: ec ? 'ES256' : 'RS256', value: digest } });
      const raw = Buffer.from(String(signed.value ?? ''), 'base64url');
      if (raw.length === 0) throw new RemoteError('KeyVaultKeyUnsupported', [keyId, 'a key whose sign answer held no signature']);
      return ec ? derOfP1363(raw) : raw;
    },
    async signJws(data) {
      const alg = ec ? 'ES256' : 'PS256';
      const digest = createHash('sha256').update(data).digest('base64url');
      const signed = await call<{ value?: string }>(key, keyId, 'sign', deps, { method: 'POST', path: signPath, body: { alg, value: digest } });
      const signature = Buffer.from(String(signed.value ?? ''), 'base64url');
      if (signature.length === 0) throw new RemoteError('KeyVaultKeyUnsupported', [keyId, 'a key whose sign answer held no signature']);
      return { alg, signature };
    },
  };
}
