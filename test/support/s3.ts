/**
 * A local S3: s3rver (npm) and a thin front that makes it stricter where the tests need S3's real
 * behaviour and s3rver falls short, both in a child process (s3ServerProcess.ts) on a port the OS
 * picks. What s3rver covers, and what the front adds:
 *  - ListObjectsV2 with continuation tokens (s3rver makes them with DES, so its process runs with
 *    OpenSSL's legacy provider), GET with Range (206), HEAD with user metadata, ETags,
 *    GetObjectTagging / PutObjectTagging, NoSuchBucket, InvalidAccessKeyId: s3rver itself.
 *  - SigV4: s3rver only checks that the access key id exists. The front recomputes every
 *    signature with the secret (canonical request, string to sign, signing key, as AWS documents
 *    it) and answers SignatureDoesNotMatch; it checks the session token when one is configured;
 *    unsigned requests get AccessDenied, as a private bucket answers. The payload hash is taken from
 *    x-amz-content-sha256 as signed; the body itself is not re-hashed.
 *  - If-Match: s3rver ignores it. The front compares it with the stored ETag and answers 412.
 *  - STS: s3rver has none. The front answers AssumeRole (SigV4-checked with the same verifier) and
 *    AssumeRoleWithWebIdentity for the roles in `sts` (stsFront.ts), at the same endpoint as MinIO
 *    does; the temporary keys it issues are then accepted for S3 with their session token.
 * Gaps that stay: multipart uploads get the plain MD5 of the whole object as ETag (S3 appends
 * "-<parts>"), and there is no server-side encryption, so ETag rules for those are unit-tested.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import type { RequestRecord, StsCallRecord } from './s3ServerProcess';
import type { StsConfig } from './stsFront';

export interface S3Server {
  /** http://127.0.0.1:<port>, for s3Endpoint (with path-style addressing). */
  readonly endpoint: string;
  readonly port: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Requests the server saw (method, path without query, Range), as reported so far. */
  readonly requests: readonly RequestRecord[];
  /** Every request the server saw until now, once its reports have all arrived. */
  settled(): Promise<readonly RequestRecord[]>;
  /** The STS calls answered so far (Action, status). */
  readonly stsCalls: readonly StsCallRecord[];
  /** The next `count` STS calls answer `status` (resolves once the server has it). */
  failSts(count: number, status: number): Promise<void>;
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  /** Require this x-amz-security-token on every request (temporary credentials). */
  readonly sessionToken?: string;
  /** Roles STS lets callers assume. */
  readonly sts?: StsConfig;
}

export async function startS3(options: S3ServerOptions = {}): Promise<S3Server> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 's3rver-'));
  const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  const child = fork(path.join(__dirname, 's3ServerProcess.ts'), [], {
    execArgv: ['--openssl-legacy-provider', '--import', 'tsx'],
    env: { ...process.env, S3_DIRECTORY: directory, S3_KEY_ID: accessKeyId, S3_SECRET: secretAccessKey, S3_SESSION_TOKEN: options.sessionToken ?? '', S3_STS: JSON.stringify(options.sts ?? { roles: [] }) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const requests: RequestRecord[] = [];
  const stsCalls: StsCallRecord[] = [];
  const pongs = new Map<number, () => void>();
  child.on('message', (message: { request?: RequestRecord; stsCall?: StsCallRecord; pong?: number }) => {
    if (message.request) requests.push(message.request);
    if (message.stsCall) stsCalls.push(message.stsCall);
    if (message.pong !== undefined) pongs.get(message.pong)?.();
  });
  const port = await listeningPort(child);
  let pings = 0;
  const settled = () =>
    new Promise<readonly RequestRecord[]>((resolve) => {
      const ping = ++pings;
      pongs.set(ping, () => resolve(requests));
      child.send({ ping });
    });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    accessKeyId,
    secretAccessKey,
    sessionToken: options.sessionToken,
    requests,
    stsCalls,
    async failSts(count, status) {
      child.send({ stsFaults: { count, status } });
      await settled();
    },
    settled,
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', kill);
        const done = () => {
          fs.rmSync(directory, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null) return done();
        child.once('exit', done);
        child.kill('SIGTERM');
      }),
  };
}

function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let errors = '';
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const timer = setTimeout(() => reject(new Error(`the local S3 did not start within 20 s: ${errors}`)), 20_000);
    child.on('message', (message: { port?: number }) => {
      if (message.port === undefined) return;
      clearTimeout(timer);
      resolve(message.port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local S3 exited with ${code} before listening: ${errors}`));
    });
  });
}

/** Publishes model versions to a bucket the way a data scientist does: bytes, a sha256 entry, tags. */
export class S3Publisher {
  readonly client: S3Client;
  constructor(
    server: Pick<S3Server, 'endpoint' | 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>,
    readonly bucket: string,
  ) {
    this.client = new S3Client({
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey, sessionToken: server.sessionToken },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async create(): Promise<this> {
    await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    return this;
  }

  /** Uploads one object; returns its sha256 hex. `sha256: null` publishes none; a string lies. */
  async publish(key: string, data: Buffer, options: { tags?: Record<string, string>; sha256?: string | null } = {}): Promise<string> {
    const digest = createHash('sha256').update(data).digest('hex');
    const metadata = options.sha256 === null ? undefined : { sha256: options.sha256 ?? digest };
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data, Metadata: metadata }));
    if (options.tags) {
      const TagSet = Object.entries(options.tags).map(([Key, Value]) => ({ Key, Value }));
      await this.client.send(new PutObjectTaggingCommand({ Bucket: this.bucket, Key: key, Tagging: { TagSet } }));
    }
    return digest;
  }

  /** Uploads a file as one object (a single PUT, so its ETag is its MD5), with its sha256 entry. */
  async publishFile(key: string, file: string, sha256: string): Promise<void> {
    const ContentLength = fs.statSync(file).size;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: fs.createReadStream(file), ContentLength, Metadata: { sha256 } }));
  }
}
