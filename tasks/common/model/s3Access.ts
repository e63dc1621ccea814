/**
 * How to reach an S3 bucket, as validated from the task's inputs. Kept apart from the S3 store so
 * reading inputs never loads the AWS SDK.
 */
import type { OidcContext } from '../azure/oidc';
import type { RetryPolicy } from '../net/retry';

/** Where the access key came from: a service connection (named in STS's refusals) or secret values. */
export type S3CredentialSource =
  | { readonly kind: 'serviceConnection'; readonly name: string }
  | { readonly kind: 'inputs' };

export interface S3Credentials {
  readonly accessKeyId: string;
  /** Non-enumerable, as the AzureRM connection's secrets: a logged or copied value never carries it. */
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * An IAM role to assume through AWS STS, as the AWS Toolkit's "AWS" service connection describes
 * it: assumeRoleArn (with externalId and roleSessionName) signed by the connection's access key,
 * or, with its OpenID Connect option, role traded for the pipeline's OIDC token.
 */
export interface S3Role {
  readonly roleArn: string;
  readonly sessionName: string;
  /** What the role's trust policy requires as sts:ExternalId; not a secret. */
  readonly externalId?: string;
  /** 'accessKey': S3Access.credentials sign AssumeRole. 'webIdentity': AssumeRoleWithWebIdentity with the connection's OIDC token. */
  readonly signIn: { readonly kind: 'accessKey' } | { readonly kind: 'webIdentity'; readonly devOps: OidcContext };
  /** STS's URL. Default: the S3-compatible endpoint when set (MinIO and Ceph serve STS there), else AWS's regional STS. */
  readonly stsEndpoint?: string;
}

export interface S3Access {
  readonly bucket: string;
  readonly region: string;
  /** An S3-compatible endpoint (MinIO, Ceph, ...); AWS's own endpoint when undefined. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  /** The keys that sign S3 requests, or with a role the keys that sign AssumeRole; none for a web identity. */
  readonly credentials?: S3Credentials;
  /** When set, S3 requests are signed with the role's temporary credentials. */
  readonly role?: S3Role;
  readonly credentialSource: S3CredentialSource;
  /** For listing, HEAD, tags and STS; ranged reads are resumed by the downloader instead. */
  readonly retry: RetryPolicy;
}

/** A secret-safe credentials value: the secret key and token do not show up in a dump of it. */
export function s3Credentials(accessKeyId: string, secretAccessKey: string, sessionToken?: string): S3Credentials {
  const credentials = { accessKeyId };
  Object.defineProperty(credentials, 'secretAccessKey', { value: secretAccessKey, enumerable: false });
  if (sessionToken) Object.defineProperty(credentials, 'sessionToken', { value: sessionToken, enumerable: false });
  return Object.freeze(credentials) as S3Credentials;
}
