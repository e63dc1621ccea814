/**
 * AWS STS's Query API, as far as the tests need it, served by the local S3's process
 * (s3ServerProcess.ts) at the same endpoint, as MinIO and Ceph serve STS. Shapes as AWS documents
 * them (API version 2011-06-15):
 *
 *   POST / (application/x-www-form-urlencoded)
 *     Action=AssumeRole&Version=2011-06-15&RoleArn=&RoleSessionName=[&ExternalId=][&DurationSeconds=]
 *       SigV4-signed for service 'sts' by a key the front knows (the S3 front's verifier checks it)
 *       -> 200 <AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser/><Credentials>AccessKeyId,
 *          SecretAccessKey, SessionToken, Expiration</Credentials></AssumeRoleResult>
 *     Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=&RoleSessionName=&WebIdentityToken=
 *       unsigned; the token must be an RS256 JWT of the configured issuer, subject and audience
 *       -> 200 <AssumeRoleWithWebIdentityResponse>...
 *   Errors: <ErrorResponse><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/></ErrorResponse>
 *     AccessDenied (403): unknown role, wrong or missing ExternalId, a token of another subject;
 *     InvalidIdentityToken (400); MissingParameter / ValidationError (400); and, when told to,
 *     a 5xx for the next requests.
 * Issued credentials go into the front's keyring, so S3 accepts them with their session token.
 */
import { createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJwt, verifyRsaSignature } from './jwt';

export interface StsRole {
  readonly arn: string;
  /** The trust policy's sts:ExternalId condition, when it has one. */
  readonly externalId?: string;
  /** Who may assume it with AssumeRoleWithWebIdentity: the OIDC provider's issuer, and the token's sub and aud. */
  readonly webIdentity?: { readonly issuer: string; readonly subject: string; readonly audience: string };
}

export interface StsConfig {
  readonly roles: readonly StsRole[];
  /** PEM of the key that signs web identity tokens. */
  readonly oidcPublicKey?: string;
  /** How long issued credentials live (default 3600 s). */
  readonly lifetimeSeconds?: number;
}

export interface KeyRecord {
  readonly secret: string;
  readonly sessionToken?: string;
  readonly expiresAt?: number;
}

export interface StsState {
  readonly config: StsConfig;
  readonly keys: Map<string, KeyRecord>;
  /** The next `count` STS requests answer `status`. */
  readonly faults: { count: number; status: number };
  /** Registers an issued key pair with s3rver, which checks that key ids exist. */
  readonly register: (accessKeyId: string, secret: string) => void;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

export function stsError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<ErrorResponse xmlns="${NS}"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': randomUUID() });
  res.end(body);
}

/** Answers one STS request whose signature (if any) the caller has already verified. */
export function answerSts(res: ServerResponse, form: URLSearchParams, signedBy: string | undefined, state: StsState): void {
  if (state.faults.count > 0) {
    state.faults.count--;
    return stsError(res, state.faults.status, 'ServiceUnavailable', 'Service is unable to handle request (stand-in fault).');
  }
  const action = form.get('Action');
  if (form.get('Version') !== '2011-06-15') return stsError(res, 400, 'InvalidParameterValue', `Version ${form.get('Version')} is not supported.`);
  for (const name of ['RoleArn', 'RoleSessionName', ...(action === 'AssumeRoleWithWebIdentity' ? ['WebIdentityToken'] : [])]) {
    if (!form.get(name)) return stsError(res, 400, 'MissingParameter', `The request must contain the parameter ${name}.`);
  }
  const arn = form.get('RoleArn')!;
  const session = form.get('RoleSessionName')!;
  if (!/^[\w+=,.@-]{2,64}$/.test(session)) return stsError(res, 400, 'ValidationError', `1 validation error detected: Value '${session}' at 'roleSessionName' failed to satisfy constraint`);
  const role = state.config.roles.find((candidate) => candidate.arn === arn);
  if (action === 'AssumeRole') {
    if (!signedBy) return stsError(res, 403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    if (!role || (role.externalId !== undefined && form.get('ExternalId') !== role.externalId)) {
      return stsError(res, 403, 'AccessDenied', `User: arn:aws:iam::123456789012:user/${signedBy} is not authorized to perform: sts:AssumeRole on resource: ${arn}`);
    }
    return issue(res, 'AssumeRole', arn, session, state);
  }
  if (action === 'AssumeRoleWithWebIdentity') {
    const refusal = webIdentityRefusal(form.get('WebIdentityToken')!, role, state.config);
    if (refusal) return stsError(res, refusal.status, refusal.code, refusal.message);
    return issue(res, 'AssumeRoleWithWebIdentity', arn, session, state);
  }
  stsError(res, 400, 'InvalidAction', `Could not find operation ${action} for version 2011-06-15`);
}

function webIdentityRefusal(token: string, role: StsRole | undefined, config: StsConfig): { status: number; code: string; message: string } | undefined {
  const jwt = decodeJwt(token);
  const key = config.oidcPublicKey ? createPublicKey(config.oidcPublicKey) : undefined;
  if (!jwt || !key || !verifyRsaSignature(jwt, key)) return { status: 400, code: 'InvalidIdentityToken', message: 'The web identity token that was passed could not be validated by AWS.' };
  if (Number(jwt.payload.exp) * 1000 < Date.now()) return { status: 400, code: 'ExpiredTokenException', message: 'Token expired' };
  const trust = role?.webIdentity;
  if (!trust || jwt.payload.iss !== trust.issuer || jwt.payload.sub !== trust.subject || jwt.payload.aud !== trust.audience) {
    return { status: 403, code: 'AccessDenied', message: 'Not authorized to perform sts:AssumeRoleWithWebIdentity' };
  }
  return undefined;
}

function issue(res: ServerResponse, action: string, arn: string, session: string, state: StsState): void {
  const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secret = randomBytes(30).toString('base64');
  const sessionToken = `IQoJb3JpZ2luX2VjE${randomBytes(96).toString('base64')}`;
  const expiresAt = Date.now() + (state.config.lifetimeSeconds ?? 3600) * 1000;
  state.keys.set(accessKeyId, { secret, sessionToken, expiresAt });
  state.register(accessKeyId, secret);
  const roleName = arn.split('/').at(-1);
  const body = [
    `<${action}Response xmlns="${NS}"><${action}Result>`,
    `<AssumedRoleUser><AssumedRoleId>AROA3XFRBF535PLBIFPI4:${session}</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/${roleName}/${session}</Arn></AssumedRoleUser>`,
    `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${secret}</SecretAccessKey><SessionToken>${sessionToken}</SessionToken>`,
    `<Expiration>${new Date(expiresAt).toISOString().replace(/\.\d+Z$/, 'Z')}</Expiration></Credentials>`,
    `</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  ].join('');
  res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Whether a request is an STS call: a form POST to the root (S3 has no such operation). */
export function isStsRequest(req: IncomingMessage): boolean {
  return req.method === 'POST' && (req.url ?? '') === '/' && /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '');
}
