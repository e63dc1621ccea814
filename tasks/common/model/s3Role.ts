/**
 * Temporary credentials for an IAM role, from AWS STS: AssumeRole signed with the service
 * connection's access key (RoleArn, RoleSessionName, ExternalId), or AssumeRoleWithWebIdentity with
 * the pipeline's OIDC token. The S3 client calls the provider again when the credentials near
 * their expiry (the SDK memoizes it), so a long download outlives one session.
 */
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, type Credentials, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { OidcContext } from '../azure/oidc';
import { RemoteError, SettingError, TaskError, INPUT_SLOT } from '../errors';
import type { Lifetime } from '../lifetime';
import type { Log } from '../log';
import { awsHandler } from '../net/adapters/awsHttpHandler';
import type { Network } from '../net/network';
import { withoutQuery } from '../redact';
import type { S3Access, S3Role } from './s3Access';
import { failureOf, isNetworkLayerError } from './s3Errors';
import type { ModelSetting } from './settings';
import { NetworkError } from '../net/errors';

export interface RoleContext {
  readonly log: Log;
  readonly network: Network;
  readonly lifetime: Lifetime;
  /** Masks the temporary secret key and session token before anything could print them. */
  readonly registerSecret: (value: string) => void;
  /** The pipeline's OIDC token for the service connection (web identity only). */
  readonly oidcToken: (devOps: OidcContext) => Promise<string>;
}

export function roleCredentials(access: S3Access, role: S3Role, context: RoleContext): AwsCredentialIdentityProvider {
  const endpoint = role.stsEndpoint ?? access.endpoint;
  const where = endpoint ? withoutQuery(endpoint) : `sts.${access.region}.amazonaws.com`;
  const base = access.credentials;
  const client = new STSClient({
    region: access.region,
    endpoint,
    // Without keys the client never signs: AssumeRoleWithWebIdentity is an anonymous call.
    credentials: base ? { accessKeyId: base.accessKeyId, secretAccessKey: base.secretAccessKey, sessionToken: base.sessionToken } : { accessKeyId: '', secretAccessKey: '' },
    maxAttempts: 1,
    requestHandler: awsHandler(context, { retry: access.retry, streamBodies: false }),
  });
  const connection = access.credentialSource.kind === 'serviceConnection' ? access.credentialSource.name : '?';
  return shared(async () => {
    let issued: Credentials | undefined;
    try {
      issued = await assume(client, role, context);
    } catch (error) {
      throw explainStsError(error, role, where, connection, access.retry.attempts);
    }
    return accept(issued, role, where, context);
  });
}

/** Renewed this long before they expire, so no request is signed with credentials about to lapse. */
const RENEW_BEFORE_MS = 5 * 60_000;

/**
 * One session for every client of the store (listing and ranges): concurrent callers share the
 * call in flight, and the credentials are reused until they near their expiry.
 */
function shared(issue: () => Promise<AwsCredentialIdentity>): AwsCredentialIdentityProvider {
  let current: Promise<AwsCredentialIdentity> | undefined;
  return async () => {
    const held = current && (await current.catch(() => undefined));
    const fresh = held && (!held.expiration || held.expiration.getTime() - Date.now() > RENEW_BEFORE_MS);
    if (!fresh || !current) {
      const attempt = issue();
      current = attempt;
      attempt.catch(() => {
        if (current === attempt) current = undefined;
      });
    }
    return current;
  };
}

async function assume(client: STSClient, role: S3Role, context: RoleContext): Promise<Credentials | undefined> {
  const common = { RoleArn: role.roleArn, RoleSessionName: role.sessionName };
  if (role.signIn.kind === 'accessKey') return (await client.send(new AssumeRoleCommand({ ...common, ExternalId: role.externalId }))).Credentials;
  const WebIdentityToken = await context.oidcToken(role.signIn.devOps);
  return (await client.send(new AssumeRoleWithWebIdentityCommand({ ...common, WebIdentityToken }))).Credentials;
}

function accept(issued: Credentials | undefined, role: S3Role, where: string, context: RoleContext): AwsCredentialIdentity {
  if (!issued?.AccessKeyId || !issued.SecretAccessKey) throw new RemoteError('S3StsFailed', [where, role.roleArn, 1, 'the answer held no credentials']);
  context.registerSecret(issued.SecretAccessKey);
  if (issued.SessionToken) context.registerSecret(issued.SessionToken);
  context.log.info('S3RoleAssumed', role.roleArn, role.sessionName, where, issued.Expiration?.toISOString() ?? 'an unknown time');
  return { accessKeyId: issued.AccessKeyId, secretAccessKey: issued.SecretAccessKey, sessionToken: issued.SessionToken, expiration: issued.Expiration };
}

/**
 * Says which part of the connection STS (at `where`) refused, or that STS could not be reached.
 * A role comes with a service connection, which holds the whole credential.
 */
export function explainStsError(error: unknown, role: S3Role, where: string, connection: string, attempts: number): unknown {
  if (error instanceof TaskError || isNetworkLayerError(error)) return error;
  if (error instanceof NetworkError) return new RemoteError('S3StsFailed', [where, role.roleArn, attempts, error.code], { cause: error });
  const failure = failureOf(error);
  const code = failure.code.replace(/Exception$/, '');
  if (failure.status === undefined || failure.status >= 500 || code === 'Throttling') {
    return new RemoteError('S3StsFailed', [where, role.roleArn, attempts, failure.status ? `HTTP ${failure.status} ${code}` : code || failure.message], { cause: error });
  }
  if (role.signIn.kind === 'webIdentity' && /^(AccessDenied|InvalidIdentityToken|IDPRejectedClaim|IDPCommunicationError|ExpiredToken)$/.test(code)) {
    return new SettingError<ModelSetting>('storeCredential', 'S3WebIdentityRejected', [where, connection, INPUT_SLOT, role.roleArn, code, failure.message]);
  }
  switch (code) {
    case 'AccessDenied':
      return new SettingError<ModelSetting>('storeCredential', 'S3AssumeRoleDenied', [where, connection, INPUT_SLOT, role.roleArn, code, failure.message]);
    case 'InvalidClientTokenId':
      return new SettingError<ModelSetting>('storeAccessKeyId', 'S3AccessKeyRejected', [`AWS STS at ${where}`, INPUT_SLOT]);
    case 'SignatureDoesNotMatch':
      return new SettingError<ModelSetting>('storeCredential', 'S3SignatureRejected', [`AWS STS at ${where}`, INPUT_SLOT]);
    case 'ExpiredToken':
      return new SettingError<ModelSetting>('storeSessionToken', 'S3SessionTokenRejected', [`AWS STS at ${where}`, INPUT_SLOT, code]);
  }
  return new RemoteError('S3RequestFailed', [role.signIn.kind === 'webIdentity' ? 'AssumeRoleWithWebIdentity' : 'AssumeRole', `AWS STS at ${where}`, failure.status, `${code}: ${failure.message}`], { cause: error });
}
