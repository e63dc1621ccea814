/**
 * How to reach an S3 bucket, as validated from the task's inputs. Kept apart from the S3 store so
 * reading inputs never loads the AWS SDK.
 */

/** Where the access key came from, so a refusal names the input the user has to fix. */
export type S3CredentialSource =
  | { readonly kind: 'serviceConnection'; readonly input: string; readonly name: string }
  | { readonly kind: 'inputs' };

export interface S3Credentials {
  readonly accessKeyId: string;
  /** Non-enumerable, as the AzureRM connection's secrets: a logged or copied value never carries it. */
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3Access {
  readonly bucket: string;
  readonly region: string;
  /** An S3-compatible endpoint (MinIO, Ceph, ...); AWS's own endpoint when undefined. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  readonly credentials: S3Credentials;
  readonly credentialSource: S3CredentialSource;
  readonly retries: number;
}

/** A secret-safe credentials value: the secret key and token do not show up in a dump of it. */
export function s3Credentials(accessKeyId: string, secretAccessKey: string, sessionToken?: string): S3Credentials {
  const credentials = { accessKeyId };
  Object.defineProperty(credentials, 'secretAccessKey', { value: secretAccessKey, enumerable: false });
  if (sessionToken) Object.defineProperty(credentials, 'sessionToken', { value: sessionToken, enumerable: false });
  return Object.freeze(credentials) as S3Credentials;
}
