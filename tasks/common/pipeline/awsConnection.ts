/**
 * The AWS Toolkit for Azure DevOps' "AWS" service connection (connectedService:AWS), read as the
 * toolkit reads it (awsConnectionParameters.ts):
 *  - scheme UsernamePassword: username = access key id, password = secret access key, optional
 *    sessionToken; with assumeRoleArn (and optional externalId, roleSessionName) those keys sign
 *    an STS AssumeRole and S3 is reached with the role's temporary credentials;
 *  - scheme None (its OpenID Connect option): parameter role is assumed with
 *    AssumeRoleWithWebIdentity and the pipeline's OIDC token for the connection.
 * A role without keys means "the agent's own AWS credentials" (EC2 instance profile) to the
 * toolkit; this task does not read those, and says so.
 */
import { FetchLatestModelInputs } from '../contract/fetchLatestModel';
import { InputError } from './inputError';
import { s3Credentials, type S3Access, type S3Role } from '../model/s3Access';
import type { Agent, Endpoint } from './agent';
import { devOpsContextOf } from './devops';

export type AwsLogin = Pick<S3Access, 'credentials' | 'role' | 'credentialSource'>;

const INPUT = FetchLatestModelInputs.awsCredentials.name;
// IAM's rules (AWS partitions, and S3-compatible stores' own ARNs such as arn:minio:iam:::role/x).
const ROLE_ARN = /^arn:[\w-]+:iam::\d{0,12}:role\/[\w+=,.@/-]{1,512}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

export function readAwsConnection(agent: Agent, id: string): AwsLogin {
  const endpoint = agent.endpoint(id);
  if (!endpoint) throw new InputError(INPUT, 'EndpointMissing', [INPUT, id]);
  const credentialSource = { kind: 'serviceConnection' as const, name: id };
  if (endpoint.scheme?.toLowerCase() === 'none') {
    // The toolkit names the OIDC role 'role': that name is exempt from log masking.
    const roleArn = endpoint.authParameter('role');
    if (!roleArn) throw new InputError(INPUT, 'InputInvalid', [INPUT, id, 'the connection uses OpenID Connect but names no role to assume; edit it and set the role ARN']);
    return { credentialSource, role: roleOf(agent, endpoint, id, roleArn, { kind: 'webIdentity', devOps: devOpsContextOf(agent, id) }) };
  }
  const keyId = endpoint.authParameter('username');
  const secret = endpoint.secretAuthParameter('password');
  const token = endpoint.secretAuthParameter('sessionToken');
  const roleArn = endpoint.authParameter('assumeRoleArn');
  if (roleArn && !keyId && !secret) throw new InputError(INPUT, 'S3RoleWithoutKeys', [INPUT, id, roleArn]);
  if (!keyId || !secret) throw new InputError(INPUT, 'S3ConnectionIncomplete', [INPUT, id]);
  checkAccessKeyId(keyId, INPUT);
  const credentials = s3Credentials(keyId, secret, token);
  if (!roleArn) return { credentials, credentialSource };
  return { credentials, credentialSource, role: roleOf(agent, endpoint, id, roleArn, { kind: 'accessKey' }) };
}

function roleOf(agent: Agent, endpoint: Endpoint, id: string, roleArn: string, signIn: S3Role['signIn']): S3Role {
  const reject = (what: string, value: string, accepted: string) => new InputError(INPUT, 'InputInvalid', [INPUT, id, `its ${what} '${value}' is not valid: ${accepted}`]);
  if (!ROLE_ARN.test(roleArn)) throw reject('role ARN', roleArn, 'use the role\'s ARN, for example arn:aws:iam::123456789012:role/model-reader');
  // One session per run, so CloudTrail ties S3 reads to the pipeline run.
  const sessionName = endpoint.authParameter('roleSessionName') ?? `azure-pipelines-${agent.variable('Build.BuildId') ?? agent.variable('Release.ReleaseId') ?? 'run'}`;
  if (!SESSION_NAME.test(sessionName)) throw reject('role session name', sessionName, '2 to 64 letters, digits and + = , . @ _ -');
  const externalId = signIn.kind === 'accessKey' ? endpoint.authParameter('externalId') : undefined;
  if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) throw reject('external ID', externalId, '2 to 1224 letters, digits and + = , . @ : / _ -');
  return Object.freeze({ roleArn, sessionName, signIn, ...(externalId ? { externalId } : {}) });
}

/** AWS key ids are upper-case letters and digits; S3-compatible stores allow more, but never blanks. */
export function checkAccessKeyId(keyId: string, input: string): void {
  if (!/^[\x21-\x7e]{3,128}$/.test(keyId)) {
    throw new InputError(input, 'InputInvalid', [input, keyId, 'an access key id has 3 to 128 visible characters and no spaces, for example AKIAIOSFODNN7EXAMPLE']);
  }
}
