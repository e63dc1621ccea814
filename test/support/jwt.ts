/**
 * The little JWT handling the identity stand-ins need, on node:crypto alone: RS256 signing (OIDC
 * tokens), RS256 / PS256 verification (client assertions), HS256 for the stand-in's own access
 * tokens, and decoding.
 */
import { type KeyObject, constants, createHmac, sign, timingSafeEqual, verify } from 'node:crypto';

export type Claims = Record<string, unknown>;

export interface DecodedJwt {
  readonly header: Claims;
  readonly payload: Claims;
  /** `header.payload`, the bytes the signature covers. */
  readonly signedPart: string;
  readonly signature: Buffer;
}

export function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** The parts of a compact JWT, or undefined when the text is not one. Checks nothing. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as Claims,
      payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Claims,
      signedPart: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2], 'base64url'),
    };
  } catch {
    return undefined;
  }
}

export function signRs256(payload: Claims, privateKey: KeyObject, header: Claims = {}): string {
  const signedPart = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...header }))}.${base64url(JSON.stringify(payload))}`;
  return `${signedPart}.${base64url(sign('sha256', Buffer.from(signedPart), privateKey))}`;
}

/** Whether an RS256 or PS256 signature (the algorithms MSAL uses for client assertions) is valid. */
export function verifyRsaSignature(jwt: DecodedJwt, publicKey: KeyObject): boolean {
  const data = Buffer.from(jwt.signedPart);
  if (jwt.header.alg === 'RS256') return verify('sha256', data, publicKey, jwt.signature);
  if (jwt.header.alg === 'PS256') {
    const key = { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
    return verify('sha256', data, key, jwt.signature);
  }
  return false;
}

export function signHs256(payload: Claims, secret: Buffer): string {
  const signedPart = `${base64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }))}.${base64url(JSON.stringify(payload))}`;
  return `${signedPart}.${base64url(createHmac('sha256', secret).update(signedPart).digest())}`;
}

export function verifyHs256(token: string, secret: Buffer): Claims | undefined {
  const jwt = decodeJwt(token);
  if (!jwt || jwt.header.alg !== 'HS256') return undefined;
  const expected = createHmac('sha256', secret).update(jwt.signedPart).digest();
  if (expected.length !== jwt.signature.length || !timingSafeEqual(expected, jwt.signature)) return undefined;
  return jwt.payload;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
