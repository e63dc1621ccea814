import { setMaxListeners } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { mapBounded } from '../boundedMap';
import { explainS3Error, type S3ErrorContext } from './s3Errors';
import type { S3Access } from './s3Access';
import { roleCredentials, type RoleContext } from './s3Role';
import type { ModelStore, StoredObject } from './store';
import { matchesTagQuery } from './tagQuery';

/** Per-object requests (HEAD, tagging) in flight at once while listing. */
const LISTING_CONCURRENCY = 16;
/** Each request in flight listens on the fetch's abort signal: up to 64 ranges plus listing. */
const SIGNAL_LISTENERS = 128;

/** `context` is needed when the access assumes a role: STS's answer is logged and its secrets masked. */
export function openS3Store(access: S3Access, context?: RoleContext): ModelStore {
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  const client = new S3Client({
    region: access.region,
    endpoint: access.endpoint,
    forcePathStyle: access.forcePathStyle,
    credentials: credentialsOf(access, context),
    maxAttempts: access.retries + 1,
    // Integrity is ours (sha256 metadata, MD5 ETag); keep the SDK from wrapping streams or uploads.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: new http.Agent(agentOptions), httpsAgent: new https.Agent(agentOptions), connectionTimeout: 30_000 },
  });
  return new S3ModelStore(client, access);
}

function credentialsOf(access: S3Access, context: RoleContext | undefined) {
  if (access.role) {
    if (!context) throw new Error('openS3Store: a role needs a RoleContext');
    return roleCredentials(access, access.role, context);
  }
  if (!access.credentials) throw new Error('openS3Store: neither credentials nor a role');
  const { accessKeyId, secretAccessKey, sessionToken } = access.credentials;
  return { accessKeyId, secretAccessKey, sessionToken };
}

class S3ModelStore implements ModelStore {
  readonly location: string;
  private readonly errors: S3ErrorContext;

  constructor(
    private readonly client: S3Client,
    private readonly access: S3Access,
  ) {
    this.location = `s3://${access.bucket}`;
    this.errors = { bucket: access.bucket, region: access.region, endpoint: access.endpoint, location: this.location, credentialSource: access.credentialSource };
  }

  /**
   * ListObjectsV2 reports no user metadata and no encryption, so each object is also HEADed: its
   * `sha256` entry, and whether its ETag is an MD5 (a single-part upload without KMS or SSE-C).
   */
  async *list(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject> {
    setMaxListeners(SIGNAL_LISTENERS, signal);
    for await (const keys of this.pagesOfKeys(prefix, signal)) {
      const objects = await mapBounded(keys, LISTING_CONCURRENCY, (key) => this.describe(key, signal));
      for (const object of objects) if (object) yield object;
    }
  }

  async *findByTags(query: string, prefix: string, signal: AbortSignal): AsyncIterable<string> {
    setMaxListeners(SIGNAL_LISTENERS, signal);
    for await (const keys of this.pagesOfKeys(prefix, signal)) {
      const matches = await mapBounded(keys, LISTING_CONCURRENCY, async (key) => matchesTagQuery(query, await this.tagsOf(key, signal), this.access.bucket));
      yield* keys.filter((_, index) => matches[index]);
    }
  }

  async readRange(object: StoredObject, offset: number, count: number, signal: AbortSignal): Promise<Readable> {
    setMaxListeners(SIGNAL_LISTENERS, signal);
    try {
      const command = new GetObjectCommand({ Bucket: this.access.bucket, Key: object.name, Range: `bytes=${offset}-${offset + count - 1}`, IfMatch: object.etag });
      const response = await this.client.send(command, { abortSignal: signal });
      return response.Body as Readable;
    } catch (error) {
      throw explainS3Error(error, object.name, this.errors, { retryable: true });
    }
  }

  uriOf(name: string): string {
    return `${this.location}/${name}`;
  }

  private async *pagesOfKeys(prefix: string, signal: AbortSignal): AsyncIterable<string[]> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.access.bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal: signal });
      } catch (error) {
        throw explainS3Error(error, 'ListObjectsV2', this.errors);
      }
      // Zero-byte keys ending in '/' are the console's folder markers, not model files.
      yield (page.Contents ?? []).filter((item) => item.Key && !(item.Key.endsWith('/') && !item.Size)).map((item) => item.Key!);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The object as HEAD reports it now, or undefined when it was deleted since the listing. */
  private async describe(key: string, signal: AbortSignal): Promise<StoredObject | undefined> {
    let head: HeadObjectCommandOutput;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.access.bucket, Key: key }), { abortSignal: signal });
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw explainS3Error(error, key, this.errors);
    }
    const metadata = Object.fromEntries(Object.entries(head.Metadata ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
    return Object.freeze({
      name: key,
      size: head.ContentLength ?? 0,
      etag: head.ETag ?? '',
      lastModified: head.LastModified ?? new Date(0),
      contentMd5: md5OfETag(head),
      sha256Metadata: metadata.sha256,
    });
  }

  private async tagsOf(key: string, signal: AbortSignal): Promise<Record<string, string>> {
    try {
      const response = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.access.bucket, Key: key }), { abortSignal: signal });
      return Object.fromEntries((response.TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    } catch (error) {
      throw explainS3Error(error, `GetObjectTagging ${key}`, this.errors);
    }
  }
}

/**
 * S3's ETag is the hex MD5 of the bytes only for an object uploaded in one part and encrypted with
 * S3's own keys (or not at all). Multipart ETags end in "-<parts>"; SSE-KMS and SSE-C ETags are
 * not digests of the content. Returned as base64, the way the verifier compares Content-MD5.
 */
export function md5OfETag(head: Pick<HeadObjectCommandOutput, 'ETag' | 'ServerSideEncryption' | 'SSECustomerAlgorithm'>): string | undefined {
  const hex = /^"?([0-9a-fA-F]{32})"?$/.exec(head.ETag ?? '')?.[1];
  if (!hex || head.SSECustomerAlgorithm) return undefined;
  if (head.ServerSideEncryption && head.ServerSideEncryption !== 'AES256') return undefined;
  return Buffer.from(hex, 'hex').toString('base64');
}
