/**
 * Registry bearer tokens as CNCF distribution 2.8 checks them (registry/auth/token/token.go):
 * RS256 JWTs with iss, sub, aud (= the registry's `service`), exp, nbf, iat, jti and
 * `access: [{type, name, actions}]`. distribution finds the verification key from the header,
 * trying `x5c` (a chain verified against `rootcertbundle`), then `jwk`, then `kid` (a libtrust
 * fingerprint of a key from `rootcertbundle`); a token with none of them is refused. Both x5c and
 * kid were checked against the installed binary; docker_auth sends `kid`, which is our default.
 */
import { type KeyObject, X509Certificate, createHash, createPrivateKey, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Claims, decodeJwt, nowSeconds, signRs256, verifyRsaSignature } from '../jwt';
import { createClientCertificate } from '../tls';

export type TokenHeaderStyle = 'kid' | 'x5c';

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly certificate: X509Certificate;
  /** PEM file the registry trusts as `auth.token.rootcertbundle`. */
  readonly certificatePath: string;
  /** The libtrust key id distribution computes for the certificate's key. */
  readonly kid: string;
}

export interface Scope {
  readonly type: string;
  readonly name: string;
  readonly actions: string[];
}

/** A self-signed RSA certificate and key, written to `dir`: the token signer. */
export function createSigningKey(dir: string): SigningKey {
  createClientCertificate(dir, 'token-signer');
  const certificate = new X509Certificate(fs.readFileSync(path.join(dir, 'token-signer.crt')));
  return {
    privateKey: createPrivateKey(fs.readFileSync(path.join(dir, 'token-signer.key'))),
    certificate,
    certificatePath: path.join(dir, 'token-signer.crt'),
    kid: libtrustKeyId(certificate.publicKey),
  };
}

function base32(data: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of data) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return bits > 0 ? out + alphabet[(value << (5 - bits)) & 31] : out;
}

/** libtrust's keyIDFromCryptoKey: base32 of the first 240 bits of SHA-256(DER SPKI), in groups of 4. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const digest = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
  return (base32(digest.subarray(0, 30)).match(/.{1,4}/g) ?? []).join(':');
}

/** `repository:team/app:pull,push` -> { type, name, actions }. Names never hold ':', types may not either. */
export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = text.slice(last + 1).split(',').filter(Boolean);
  return { type: text.slice(0, first), name: text.slice(first + 1, last), actions };
}

/** Scopes may come repeated (`scope=a&scope=b`) and space separated (`scope=a b`), both per the spec. */
export function parseScopes(values: readonly string[]): Scope[] {
  return values.flatMap((value) => value.split(' ')).filter(Boolean)
    .map(parseScope).filter((scope): scope is Scope => scope !== undefined);
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

export interface MintOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly subject: string;
  readonly lifetimeSeconds: number;
  readonly headerStyle: TokenHeaderStyle;
  /** Claims beyond the registered ones: `access`, or ACR's refresh-token claims. */
  readonly extra: Claims;
}

export function mintToken(key: SigningKey, options: MintOptions): { token: string; claims: Claims } {
  const now = nowSeconds();
  // Rounded up, so a token lives at least its lifetime (at most a second more), never less.
  const exp = Math.ceil(Date.now() / 1000 + options.lifetimeSeconds);
  const claims: Claims = {
    jti: randomUUID(), sub: options.subject, nbf: now, exp, iat: now,
    iss: options.issuer, aud: options.audience, ...options.extra,
  };
  const header = options.headerStyle === 'kid' ? { kid: key.kid } : { x5c: [key.certificate.raw.toString('base64')] };
  return { token: signRs256(claims, key.privateKey, header), claims };
}

/** The claims of a token `key` signed for `audience` that has not expired (no leeway); else undefined. */
export function verifyOwnToken(key: SigningKey, token: string, audience: string): Claims | undefined {
  const jwt = decodeJwt(token);
  if (!jwt || !verifyRsaSignature(jwt, key.certificate.publicKey)) return undefined;
  if (jwt.payload.aud !== audience) return undefined;
  if (typeof jwt.payload.exp !== 'number' || jwt.payload.exp * 1000 <= Date.now()) return undefined;
  return jwt.payload;
}
