/**
 * The child process behind test/support/s3.ts: s3rver and a front that makes it stricter where
 * the tests need S3's real behaviour, in one HTTP server. Started with OpenSSL's legacy provider
 * (s3rver makes ListObjectsV2 continuation tokens with DES) and tsx; reports its port and every
 * request to the parent over IPC. See s3.ts for what s3rver covers and what the front adds.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from './standInServer';
import { type KeyRecord, type StsConfig, type StsState, answerSts, isStsRequest, stsError } from './stsFront';

// s3rver ships no type declarations: the little used here is typed by hand.
type S3rverApp = { callback(): http.RequestListener; store: FrontContext['store'] };
const S3rver = require('s3rver') as new (options: object) => S3rverApp;
// s3rver keeps its accounts in a process-wide registry; this process adds the test's key pair.
const AWSAccount = require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  /** The access key id the request was signed with, if any. */
  readonly keyId?: string;
}

/** An STS call the front answered: its Action and HTTP status. */
export interface StsCallRecord {
  readonly action: string;
  readonly status: number;
}

function main(): void {
  const { S3_DIRECTORY: directory = '', S3_KEY_ID: accessKeyId = '', S3_SECRET: secretAccessKey = '', S3_SESSION_TOKEN: sessionToken, S3_STS: sts } = process.env;
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  const s3rver = new S3rver({ directory, silent: true, vhostBuckets: false });
  const backend = s3rver.callback();
  const keys = new Map<string, KeyRecord>([[accessKeyId, { secret: secretAccessKey, sessionToken: sessionToken || undefined }]]);
  const register = (id: string, secret: string) => AWSAccount.DUMMY_ACCOUNT.createKeyPair(id, secret);
  const stsState: StsState = { config: JSON.parse(sts || '{"roles":[]}') as StsConfig, keys, faults: { count: 0, status: 500 }, register };
  const context: FrontContext = { keys, sts: stsState, store: s3rver.store };
  const server = http.createServer((req, res) => {
    const keyId = /Credential=([^/,\s]+)\//.exec(req.headers.authorization ?? '')?.[1];
    process.send?.({ request: { method: req.method ?? '', path: (req.url ?? '').split('?')[0], range: req.headers.range, keyId } satisfies RequestRecord });
    front(req, res, context)
      .then((handled) => (handled ? undefined : backend(req, res)))
      .catch((error: Error) => s3Error(res, 500, 'InternalError', error.message));
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  // Answers a ping after every request record sent before it: IPC keeps order.
  process.on('message', (message: { ping?: number; stsFaults?: { count: number; status: number } }) => {
    if (message.stsFaults) Object.assign(stsState.faults, message.stsFaults);
    if (message.ping !== undefined) process.send?.({ pong: message.ping });
  });
  process.on('disconnect', () => process.exit(0));
}

export interface FrontContext {
  /** Key id -> its secret (and session token): the test's key, and every key STS issued. */
  readonly keys: Map<string, KeyRecord>;
  readonly sts: StsState;
  /** s3rver's store, to read an object's current ETag for If-Match. */
  readonly store: { getMetadata(bucket: string, key: string): Promise<Record<string, string>> };
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/** Answers what s3rver would get wrong (and STS, which it does not serve); returns false to let s3rver serve the request. */
export async function front(req: http.IncomingMessage, res: http.ServerResponse, context: FrontContext): Promise<boolean> {
  const parsed = AUTHORIZATION.exec(req.headers.authorization ?? '');
  if (isStsRequest(req)) return sts(req, res, parsed, context);
  if (!parsed) return s3Error(res, 403, 'AccessDenied', 'Access Denied');
  const [, keyId, date, region, service, signedHeaders, signature] = parsed;
  const key = context.keys.get(keyId);
  if (!key) return false; // s3rver answers InvalidAccessKeyId
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (!payloadHash) return s3Error(res, 400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  if (service !== 's3' || signature !== expectedSignature(req, key.secret, { date, region, service, signedHeaders }, String(payloadHash))) {
    return s3Error(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
  if (key.sessionToken !== undefined && req.headers['x-amz-security-token'] !== key.sessionToken) {
    return s3Error(res, 400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  }
  if (key.expiresAt !== undefined && key.expiresAt < Date.now()) return s3Error(res, 400, 'ExpiredToken', 'The provided token has expired.');
  const ifMatch = req.headers['if-match'];
  if (ifMatch && (req.method === 'GET' || req.method === 'HEAD')) {
    const [bucket, ...key] = decodeURIComponent((req.url ?? '').split('?')[0]).slice(1).split('/');
    const etag = await context.store.getMetadata(bucket, key.join('/')).then((metadata) => metadata.etag, () => undefined);
    if (etag !== undefined && etag !== ifMatch) return s3Error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  }
  return false;
}

/** RFC 3986 encoding as SigV4 requires it: everything but A-Z a-z 0-9 - _ . ~ */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** SigV4 as AWS documents it: canonical request, string to sign, signing key for the scope's service. */
export function expectedSignature(req: http.IncomingMessage, secret: string, scope: { date: string; region: string; service: string; signedHeaders: string }, payloadHash: string): string {
  const [rawPath, rawQuery = ''] = (req.url ?? '/').split('?');
  const query = rawQuery
    .split('&')
    .filter(Boolean)
    .map((pair) => pair.split('='))
    .map(([key, value = '']) => [uriEncode(decodeURIComponent(key)), uriEncode(decodeURIComponent(value))])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const names = scope.signedHeaders.split(';');
  const headers = names.map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, rawPath, query, headers, scope.signedHeaders, payloadHash].join('\n');
  const amzDate = String(req.headers['x-amz-date']);
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, credentialScope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key: Buffer = Buffer.from(`AWS4${secret}`);
  for (const part of [scope.date, scope.region, scope.service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

/** An STS call: the same SigV4 check over the form body (service 'sts'), then stsFront.ts answers. */
async function sts(req: http.IncomingMessage, res: http.ServerResponse, parsed: RegExpExecArray | null, context: FrontContext): Promise<true> {
  const body = await readBody(req);
  const form = new URLSearchParams(body);
  res.on('finish', () => process.send?.({ stsCall: { action: form.get('Action') ?? '', status: res.statusCode } satisfies StsCallRecord }));
  if (!parsed) {
    answerSts(res, form, undefined, context.sts);
    return true;
  }
  const [, keyId, date, region, service, signedHeaders, signature] = parsed;
  const key = context.keys.get(keyId);
  if (!key || (key.sessionToken !== undefined && req.headers['x-amz-security-token'] !== key.sessionToken)) {
    stsError(res, 403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
  } else if (service !== 'sts' || signature !== expectedSignature(req, key.secret, { date, region, service, signedHeaders }, createHash('sha256').update(body).digest('hex'))) {
    stsError(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
  } else if (key.expiresAt !== undefined && key.expiresAt < Date.now()) {
    stsError(res, 400, 'ExpiredToken', 'The security token included in the request is expired');
  } else {
    answerSts(res, form, keyId, context.sts);
  }
  return true;
}

export function s3Error(res: http.ServerResponse, status: number, code: string, message: string): true {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${randomBytes(8).toString('hex')}</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': randomBytes(8).toString('hex') });
  res.end(res.req.method === 'HEAD' ? undefined : body);
  return true;
}

main();
