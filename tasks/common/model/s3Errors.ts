import { RemoteError, SettingError, TaskError, INPUT_SLOT } from '../errors';
import { BodyTooLargeError, CredentialScopeError, HttpStatusError, NetworkError, ProxyError, StoppedError, isRetryableStatus } from '../net/errors';
import { withoutQuery } from '../redact';
import type { ModelSetting } from './settings';

export interface S3ErrorContext {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint: string | undefined;
  readonly location: string;
}

export interface S3Failure {
  readonly code: string;
  readonly status: number | undefined;
  readonly message: string;
  /** S3 names the bucket's real region in this header when the request went to the wrong one. */
  readonly bucketRegion: string | undefined;
}

export function failureOf(error: unknown): S3Failure {
  const e = error as { name?: string; Code?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string> } };
  return {
    code: e.Code ?? (e.name && e.name !== 'Error' ? e.name : undefined) ?? e.code ?? '',
    status: e.$metadata?.httpStatusCode,
    message: withoutQuery(String(e.message ?? error).split('\n')[0]).slice(0, 300),
    bucketRegion: e.$response?.headers?.['x-amz-bucket-region'],
  };
}

const REGION_CODES = /^(PermanentRedirect|AuthorizationHeaderMalformed|IllegalLocationConstraintException|Redirect|301)$/;

/** The network layer's own errors (a stop, a proxy's refusal, a body too large) keep their type: the task runner explains them. */
export function isNetworkLayerError(error: unknown): boolean {
  return [StoppedError, ProxyError, BodyTooLargeError, CredentialScopeError, HttpStatusError].some((type) => error instanceof type);
}

/**
 * Turns an S3 error into one that says what to fix. A ranged read is sent once, so its failures
 * stay typed for the downloader to resume: network errors as they are, a retryable status as an
 * HttpStatusError. Elsewhere the request handler has already retried them.
 */
export function explainS3Error(error: unknown, what: string, context: S3ErrorContext, options: { retryable?: boolean } = {}): unknown {
  if (error instanceof TaskError || isNetworkLayerError(error)) return error;
  const failure = failureOf(error);
  if (options.retryable && error instanceof NetworkError) return error;
  if (options.retryable && failure.status !== undefined && isRetryableStatus(failure.status)) {
    return new HttpStatusError(peerOf(context), failure.status, `${failure.code}: ${failure.message}`);
  }
  const where = context.endpoint ? `${context.location} at ${withoutQuery(context.endpoint)}` : `${context.location} in ${context.region}`;
  switch (failure.code) {
    case 'NoSuchBucket':
      return new SettingError<ModelSetting>('storeContainer', 'S3BucketNotFound', [context.bucket, where]);
    case 'InvalidAccessKeyId':
      return new SettingError<ModelSetting>('storeAccessKeyId', 'S3AccessKeyRejected', [where, INPUT_SLOT]);
    case 'SignatureDoesNotMatch':
      return new SettingError<ModelSetting>('storeCredential', 'S3SignatureRejected', [where, INPUT_SLOT]);
    case 'ExpiredToken':
    case 'InvalidToken':
    case 'TokenRefreshRequired':
      return new SettingError<ModelSetting>('storeSessionToken', 'S3SessionTokenRejected', [where, INPUT_SLOT, failure.code]);
    case 'AccessDenied':
      return accessDenied(where, what);
    case 'NoSuchKey':
    case 'PreconditionFailed':
      return new TaskError('ObjectChanged', [`${context.location}/${what}`]);
  }
  if (REGION_CODES.test(failure.code) || failure.status === 301) {
    return new SettingError<ModelSetting>('storeRegion', 'S3WrongRegion', [context.bucket, context.region, failure.bucketRegion ?? 'the region shown on the bucket\'s Properties tab']);
  }
  if (failure.status === 412) return new TaskError('ObjectChanged', [`${context.location}/${what}`]);
  if (failure.status === 403) return accessDenied(where, what);
  if (error instanceof NetworkError) return new RemoteError('S3Unreachable', [where, error.code], { cause: error });
  return new RemoteError('S3RequestFailed', [what, where, failure.status ?? failure.code, failure.message], { cause: error });
}

/** The secret key answers for what its identity may do. */
function accessDenied(where: string, what: string): SettingError<ModelSetting> {
  return new SettingError<ModelSetting>('storeCredential', 'S3AccessDenied', [where, what, INPUT_SLOT]);
}

/** host[:port] of the S3 endpoint, as the network layer names peers. */
function peerOf(context: S3ErrorContext): string {
  return context.endpoint ? new URL(context.endpoint).host : `s3.${context.region}.amazonaws.com`;
}
