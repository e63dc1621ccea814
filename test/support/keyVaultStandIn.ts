/**
 * An Azure Key Vault stand-in for signing keys, beside the Entra stand-in whose tokens it checks
 * (audience https://vault.azure.net): GET /keys/{name}[/{version}] answers the public JWK, and
 * POST /keys/{name}/{version}/sign signs the SHA-256 digest it is given (ES256: r||s, RS256:
 * PKCS#1 v1.5, PS256: RSASSA-PSS) with a private key that never leaves this process. Keys are made by node:crypto;
 * signing a digest that was hashed elsewhere is done by `openssl pkeyutl`, as node has no call for it.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bearerToken, readBody, sendJson, startServer } from './standInServer';
import type { Claims } from './jwt';
import type { TestCa } from './tls';

export interface VaultKeySpec {
  readonly type: 'ec' | 'rsa';
  /** Client ids allowed to sign; any valid token when absent. */
  readonly signers?: readonly string[];
  /** Make a self-signed certificate for the key, as a Key Vault certificate's key has one. */
  readonly certificate?: boolean;
}

export interface KeyVaultStandIn {
  /** https://127.0.0.1:PORT */
  readonly origin: string;
  /** The full key identifier (with version) of a key. */
  keyId(name: string): string;
  publicKey(name: string): KeyObject;
  /** The key's certificate (PEM), when it has one. */
  certificatePem(name: string): string | undefined;
  readonly signatures: { readonly key: string; readonly appId: string }[];
  close(): Promise<void>;
}

const AUDIENCE = 'https://vault.azure.net';

/** DER ECDSA (SEQUENCE of two INTEGERs) as the fixed-width r||s Key Vault answers. */
function p1363OfDer(der: Buffer): Buffer {
  let at = 2 + (der[1] & 0x80 ? der[1] & 0x7f : 0);
  const read = () => {
    const length = der[at + 1];
    const value = der.subarray(at + 2, at + 2 + length);
    at += 2 + length;
    const trimmed = value[0] === 0 ? value.subarray(1) : value;
    return Buffer.concat([Buffer.alloc(32 - trimmed.length), trimmed]);
  };
  return Buffer.concat([read(), read()]);
}

function vaultError(code: string, message: string) {
  return { error: { code, message } };
}

export async function startKeyVaultStandIn(options: { tls: TestCa; dir: string; verifyToken: (token: string) => Claims | undefined; keys: Readonly<Record<string, VaultKeySpec>> }): Promise<KeyVaultStandIn> {
  fs.mkdirSync(options.dir, { recursive: true });
  const keys = new Map(Object.entries(options.keys).map(([name, spec]) => {
    const pair = spec.type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = path.join(options.dir, `${name}.pem`);
    fs.writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const certificate = spec.certificate ? execFileSync('openssl', ['req', '-x509', '-key', file, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'extendedKeyUsage=codeSigning'], { encoding: 'utf8' }) : undefined;
    return [name, { spec, file, certificate, publicKey: pair.publicKey, version: randomBytes(16).toString('hex') }];
  }));
  const signatures: { key: string; appId: string }[] = [];
  let origin = '';
  const server = await startServer(async (req, res, url) => {
    const claims = options.verifyToken(bearerToken(req) ?? '');
    if (!claims || String(claims.aud).replace(/\/$/, '') !== AUDIENCE) return sendJson(res, 401, vaultError('Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'), { 'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/common", resource="${AUDIENCE}"` });
    if (url.searchParams.get('api-version') !== '7.4') return sendJson(res, 400, vaultError('BadParameter', 'The specified version is not supported.'));
    const certificate = /^\/certificates\/([^/]+)\/([0-9a-f]{32})$/.exec(url.pathname);
    if (req.method === 'GET' && certificate) {
      const held = keys.get(certificate[1]);
      if (!held?.certificate || held.version !== certificate[2]) return sendJson(res, 404, vaultError('CertificateNotFound', `A certificate with (name/id) ${certificate[1]} was not found in this key vault.`));
      const der = Buffer.from(held.certificate.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
      return sendJson(res, 200, { id: `${origin}/certificates/${certificate[1]}/${held.version}`, kid: `${origin}/keys/${certificate[1]}/${held.version}`, cer: der.toString('base64') });
    }
    const match = /^\/keys\/([^/]+)(?:\/([0-9a-f]{32}))?(\/sign)?$/.exec(url.pathname);
    const key = match ? keys.get(match[1]) : undefined;
    if (!match || !key || (match[2] && match[2] !== key.version)) return sendJson(res, 404, vaultError('KeyNotFound', `A key with (name/id) ${url.pathname} was not found in this key vault.`));
    const kid = `${origin}/keys/${match[1]}/${key.version}`;
    if (req.method === 'GET' && !match[3]) {
      const jwk = key.publicKey.export({ format: 'jwk' });
      return sendJson(res, 200, { key: { kid, ...jwk, kty: key.spec.type === 'ec' ? 'EC-HSM' : 'RSA', key_ops: ['sign', 'verify'] }, attributes: { enabled: true } });
    }
    if (req.method !== 'POST' || !match[3] || !match[2]) return sendJson(res, 405, vaultError('BadParameter', 'Sign needs POST /keys/{name}/{version}/sign.'));
    const appId = String(claims.appid ?? claims.azp ?? '');
    if (key.spec.signers && !key.spec.signers.includes(appId)) return sendJson(res, 403, vaultError('Forbidden', `The user, group or application 'appid=${appId}' does not have keys sign permission on key vault.`));
    const body = JSON.parse(await readBody(req)) as { alg?: string; value?: string };
    const digest = Buffer.from(body.value ?? '', 'base64url');
    const algs = key.spec.type === 'ec' ? ['ES256'] : ['RS256', 'PS256'];
    if (!algs.includes(String(body.alg)) || digest.length !== 32) return sendJson(res, 400, vaultError('BadParameter', `Key ${match[1]} signs ${algs.join(' or ')} over a 32-byte digest.`));
    const digestFile = path.join(options.dir, `digest-${randomBytes(4).toString('hex')}`);
    fs.writeFileSync(digestFile, digest);
    const pss = body.alg === 'PS256' ? ['-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', 'rsa_pss_saltlen:32'] : [];
    const signed = execFileSync('openssl', ['pkeyutl', '-sign', '-inkey', key.file, '-in', digestFile, '-pkeyopt', 'digest:sha256', ...pss]);
    fs.rmSync(digestFile);
    signatures.push({ key: match[1], appId });
    return sendJson(res, 200, { kid, value: (key.spec.type === 'ec' ? p1363OfDer(signed) : signed).toString('base64url') });
  }, { cert: options.tls.cert, key: options.tls.key });
  origin = server.origin;
  return {
    origin,
    keyId: (name) => `${origin}/keys/${name}/${keys.get(name)!.version}`,
    publicKey: (name) => keys.get(name)!.publicKey,
    certificatePem: (name) => keys.get(name)?.certificate,
    signatures,
    close: () => server.close(),
  };
}
