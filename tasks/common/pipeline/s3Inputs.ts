import { InputError } from '../errors';
import type { StoreAccess } from '../model/openStore';
import { s3Credentials, type S3Access } from '../model/s3Access';
import type { Agent } from './agent';
import { checkAccessKeyId, readAwsConnection, type AwsLogin } from './awsConnection';
import { boolInput, requiredInput } from './inputs';

const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const ANY_REGION = /^[a-z0-9][a-z0-9-]{0,62}$/;
const BUCKET_RULES = 'bucket names have 3 to 63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit, without two dots in a row, and not formatted as an IP address';

/** The inputs of source s3. Credentials come from an AWS service connection or from secret variables, never both. */
export function readS3Access(agent: Agent, retries: number): StoreAccess {
  const endpoint = endpointInput(agent);
  const login = credentialsInput(agent);
  const s3: S3Access = {
    bucket: bucketInput(agent),
    region: regionInput(agent, endpoint),
    endpoint,
    forcePathStyle: boolInput(agent, 's3ForcePathStyle', false),
    ...login,
    retries,
  };
  return { kind: 's3', s3: Object.freeze(s3) };
}

function bucketInput(agent: Agent): string {
  const bucket = requiredInput(agent, 's3Bucket', "source is 's3'");
  const valid = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket);
  if (!valid) throw new InputError('s3Bucket', 'InputInvalid', ['s3Bucket', bucket, BUCKET_RULES]);
  return bucket;
}

/** AWS needs the bucket's region to sign; S3-compatible stores mostly accept us-east-1. */
function regionInput(agent: Agent, endpoint: string | undefined): string {
  const region = agent.input('s3Region');
  if (region === undefined) {
    if (endpoint) return 'us-east-1';
    throw new InputError('s3Region', 'InputRequired', ['s3Region', "source is 's3' and no s3Endpoint is set"]);
  }
  const valid = endpoint ? ANY_REGION.test(region) : AWS_REGION.test(region);
  if (!valid) throw new InputError('s3Region', 'InputInvalid', ['s3Region', region, 'use the region code, for example eu-central-1 or us-east-1']);
  return region;
}

function endpointInput(agent: Agent): string | undefined {
  const text = agent.urlInput('s3Endpoint');
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError('s3Endpoint', 'InputInvalid', ['s3Endpoint', text, 'use the service URL, for example https://minio.example.com:9000']);
  }
  if (url.username || url.password) throw new InputError('s3Endpoint', 'S3EndpointHasCredentials', ['s3Endpoint']);
  if (!/^https?:$/.test(url.protocol) || url.search || url.hash) {
    throw new InputError('s3Endpoint', 'InputInvalid', ['s3Endpoint', text, 'use an http or https URL without a query string, for example https://minio.example.com:9000']);
  }
  return url.href.replace(/\/+$/, '');
}

function credentialsInput(agent: Agent): AwsLogin {
  const connectionId = agent.input('awsCredentials');
  const keyId = agent.input('awsAccessKeyId');
  const secret = agent.secretInput('awsSecretAccessKey');
  const token = agent.secretInput('awsSessionToken');
  if (connectionId && (keyId || secret)) throw new InputError('awsCredentials', 'S3CredentialsTwice', ['awsCredentials', 'awsAccessKeyId', 'awsSecretAccessKey']);
  if (connectionId) return readAwsConnection(agent, connectionId);
  if (!keyId && !secret) throw new InputError('awsAccessKeyId', 'S3CredentialsMissing', ['awsCredentials', 'awsAccessKeyId', 'awsSecretAccessKey']);
  if (!keyId) throw new InputError('awsAccessKeyId', 'InputRequired', ['awsAccessKeyId', 'awsSecretAccessKey is set']);
  if (!secret) throw new InputError('awsSecretAccessKey', 'InputRequired', ['awsSecretAccessKey', 'awsAccessKeyId is set']);
  checkAccessKeyId(keyId, 'awsAccessKeyId');
  return { credentials: s3Credentials(keyId, secret, token), credentialSource: { kind: 'inputs' } };
}
