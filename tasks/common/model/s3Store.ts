import { setMaxListeners } from 'node:events';
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
import type { Lifetime } from '../lifetime';
import type { Log } from '../log';
import { awsHandler } from '../net/adapters/awsHttpHandler';
import type { Network } from '../net/network';
import { policyForRetries } from '../net/retry';
import { explainS3Error, type S3ErrorContext } from './s3Errors';
import type { S3Access } from './s3Access';
import { roleCredentials, type RoleContext } from './s3Role';
import type { ModelStore, StoredObject } from './store';
import { matchesTagQuery } from './tagQuery';

/** Per-object requests (HEAD, tagging) in flight at once while listing. */
const LISTING_CONCURRENCY = 16;
/** A ranged read is sent once: the downloader resumes it from the last byte it wrote. */
const ONE_ATTEMPT = policyForRetries(0);
/** Each request in flight listens on the fetch's abort signal: up to 64 ranges plus listing. */
const SIGNAL_LISTENERS = 128;

/** What the S3 store needs besides the access: the network layer, the task's lifetime, and for a role STS's context. */
export interface S3Context extends Partial<Omit<RoleContext, 'log' | 'network' | 'lifetime'>> {
  readonly log: Log;
  readonly network: Network;
  readonly lifetime: Lifetime;
}

/**
 * Two clients over one network layer: one for listing, HEAD and tags, retried by the handler with
 * bounded bodies; one for ranged reads, sent once and streamed, because the downloader resumes a
 * broken range from the last byte it wrote (retrying the whole range here would repeat bytes).
 */
export function openS3Store(access: S3Access, context: S3Context): ModelStore {
  const credentials = credentialsOf(access, context);
  const client = (streamBodies: boolean) => new S3Client({
    region: access.region,
    endpoint: access.endpoint,
    forcePathStyle: access.forcePathStyle,
    credentials,
    maxAttempts: 1,
    // Integrity is ours (sha256 metadata, MD5 ETag); keep the SDK from wrapping streams or uploads.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: awsHandler(context, { retry: streamBodies ? ONE_ATTEMPT : access.retry, streamBodies }),
  });
  return new S3ModelStore(client(false), client(true), access);
}

function credentialsOf(access: S3Access, context: S3Context) {
  if (access.role) {
    const { registerSecret, oidcToken } = context;
    if (!registerSecret || !oidcToken) throw new Error('openS3Store: a role needs registerSecret and oidcToken');
    return roleCredentials(access, access.role, { ...context, registerSecret, oidcToken });
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
    private readonly ranges: S3Client,
    private readonly access: S3Access,
  ) {
    this.location = `s3://${access.bucket}`;
    this.errors = { bucket: access.bucket, region: access.region, endpoint: access.endpoint, location: this.location };
  }

  /**
   * ListObjectsV2 reports no user metadata and no encryption, so each object is also HEADed: its
   * `sha256` entry, and whether its ETag is an MD5 (a single-part upload without KMS or SSE-C).
   */
  async *list(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject> {
    setMaxListeners(SIGNAL_LISTENERS, signal);
    for await (const listed of this.pages(prefix, signal)) {
      const objects = await mapBounded(listed, LISTING_CONCURRENCY, (object) => this.describe(object, signal));
      for (const object of objects) if (object) yield object;
    }
  }

  async *findByTags(query: string, prefix: string, signal: AbortSignal): AsyncIterable<string> {
    setMaxListeners(SIGNAL_LISTENERS, signal);
    for await (const listed of this.pages(prefix, signal)) {
      const keys = listed.map((object) => object.name);
      const matches = await mapBounded(keys, LISTING_CONCURRENCY, async (key) => matchesTagQuery(query, await this.tagsOf(key, signal), this.access.bucket));
      yield* keys.filter((_, index) => matches[index]);
    }
  }

  async readRange(object: StoredObject, offset: number, count: number, signal: AbortSignal): Promise<Readable> {
    setMaxListeners(SIGNAL_LISTENERS, signal);
    try {
      const command = new GetObjectCommand({ Bucket: this.access.bucket, Key: object.name, Range: `bytes=${offset}-${offset + count - 1}`, IfMatch: object.etag });
      const response = await this.ranges.send(command, { abortSignal: signal });
      return response.Body as Readable;
    } catch (error) {
      throw explainS3Error(error, object.name, this.errors, { retryable: true });
    }
  }

  uriOf(name: string): string {
    return `${this.location}/${name}`;
  }

  /** Each page of the listing as ListObjectsV2 reports it: no metadata, and the ETag as it is. */
  private async *pages(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject[]> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.access.bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal: signal });
      } catch (error) {
        throw explainS3Error(error, 'ListObjectsV2', this.errors);
      }
      // Zero-byte keys ending in '/' are the console's folder markers, not model files.
      const items = (page.Contents ?? []).filter((item) => item.Key && !(item.Key.endsWith('/') && !item.Size));
      yield items.map((item) => ({ name: item.Key!, size: item.Size ?? 0, etag: item.ETag ?? '', lastModified: item.LastModified ?? new Date(0) }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * The object as HEAD reports it now, or undefined when it was deleted since the listing. A key
   * with '.' or '..' segments cannot be addressed as it is (a URL resolves them): it is reported
   * as listed, and refused by name if a model ever holds it.
   */
  private async describe(listed: StoredObject, signal: AbortSignal): Promise<StoredObject | undefined> {
    const key = listed.name;
    if (hasDotSegment(key)) return Object.freeze(listed);
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
    if (hasDotSegment(key)) return {};
    try {
      const response = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.access.bucket, Key: key }), { abortSignal: signal });
      return Object.fromEntries((response.TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    } catch (error) {
      throw explainS3Error(error, `GetObjectTagging ${key}`, this.errors);
    }
  }
}

function hasDotSegment(key: string): boolean {
  return key.split('/').some((segment) => segment === '.' || segment === '..');
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
