import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import { InputError } from './inputError';
import { s3Credentials, type S3Access, type S3CredentialSource } from '../model/s3Access';
import type { RetryPolicy } from '../net/retry';
import type { Agent } from './agent';
import { checkAccessKeyId, readAwsConnection, type AwsLogin } from './awsConnection';
import { type FetchSettings, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { boolInput, requiredInput } from './inputs';

const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const ANY_REGION = /^[a-z0-9][a-z0-9-]{0,62}$/;
const BUCKET_RULES = 'bucket names have 3 to 63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit, without two dots in a row, and not formatted as an IP address';

/** The inputs of source s3. Credentials come from an AWS service connection or from secret variables, never both. */
export function readS3Access(agent: Agent, retry: RetryPolicy): StoreInputs {
  const connection = readS3Connection(agent, retry);
  const s3: S3Access = { bucket: bucketInput(agent), ...connection.access };
  return { access: { kind: 's3', s3: Object.freeze(s3) }, settings: { ...connection.settings, storeContainer: INPUTS.s3Bucket.name } };
}

/** How to reach S3 without the bucket: for source mlflow, whose artifact URI names the bucket. */
export function readS3Connection(agent: Agent, retry: RetryPolicy): { access: Omit<S3Access, 'bucket'>; settings: FetchSettings } {
  const endpoint = endpointInput(agent);
  const login = credentialsInput(agent);
  const access = Object.freeze({ region: regionInput(agent, endpoint), endpoint, forcePathStyle: boolInput(agent, INPUTS.s3ForcePathStyle), ...login, retry });
  const settings = { ...credentialSettings(login.credentialSource), storeRegion: INPUTS.s3Region.name, storeEndpoint: INPUTS.s3Endpoint.name } satisfies FetchSettings;
  return { access, settings };
}

/** A service connection holds the whole credential; secret variables hold its parts in three inputs. */
function credentialSettings(source: S3CredentialSource) {
  if (source.kind === 'serviceConnection') {
    const connection = INPUTS.awsCredentials.name;
    return { storeCredential: connection, storeAccessKeyId: connection, storeSessionToken: connection } satisfies FetchSettings;
  }
  return { storeCredential: INPUTS.awsSecretAccessKey.name, storeAccessKeyId: INPUTS.awsAccessKeyId.name, storeSessionToken: INPUTS.awsSessionToken.name } satisfies FetchSettings;
}

function bucketInput(agent: Agent): string {
  const name = INPUTS.s3Bucket.name;
  const bucket = requiredInput(agent, INPUTS.s3Bucket, whenPicked(INPUTS.source, 's3'));
  const valid = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket);
  if (!valid) throw new InputError(name, 'InputInvalid', [name, bucket, BUCKET_RULES]);
  return bucket;
}

/** AWS needs the bucket's region to sign; S3-compatible stores mostly accept us-east-1. */
function regionInput(agent: Agent, endpoint: string | undefined): string {
  const name = INPUTS.s3Region.name;
  const region = agent.input(name);
  if (region === undefined) {
    if (endpoint) return 'us-east-1';
    throw new InputError(name, 'InputRequired', [name, `${whenPicked(INPUTS.source, 's3')} and no ${INPUTS.s3Endpoint.name} is set`]);
  }
  const valid = endpoint ? ANY_REGION.test(region) : AWS_REGION.test(region);
  if (!valid) throw new InputError(name, 'InputInvalid', [name, region, 'use the region code, for example eu-central-1 or us-east-1']);
  return region;
}

function endpointInput(agent: Agent): string | undefined {
  const name = INPUTS.s3Endpoint.name;
  const text = agent.urlInput(name);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(name, 'InputInvalid', [name, text, 'use the service URL, for example https://minio.example.com:9000']);
  }
  if (url.username || url.password) throw new InputError(name, 'S3EndpointHasCredentials', [name]);
  if (!/^https?:$/.test(url.protocol) || url.search || url.hash) {
    throw new InputError(name, 'InputInvalid', [name, text, 'use an http or https URL without a query string, for example https://minio.example.com:9000']);
  }
  return url.href.replace(/\/+$/, '');
}

function credentialsInput(agent: Agent): AwsLogin {
  const [connection, keyIdInput, secretInput] = [INPUTS.awsCredentials.name, INPUTS.awsAccessKeyId.name, INPUTS.awsSecretAccessKey.name];
  const connectionId = agent.input(connection);
  const keyId = agent.input(keyIdInput);
  const secret = agent.secretInput(secretInput);
  const token = agent.secretInput(INPUTS.awsSessionToken.name);
  if (connectionId && (keyId || secret)) throw new InputError(connection, 'S3CredentialsTwice', [connection, keyIdInput, secretInput]);
  if (connectionId) return readAwsConnection(agent, connectionId);
  if (!keyId && !secret) throw new InputError(keyIdInput, 'S3CredentialsMissing', [connection, keyIdInput, secretInput]);
  if (!keyId) throw new InputError(keyIdInput, 'InputRequired', [keyIdInput, `${secretInput} is set`]);
  if (!secret) throw new InputError(secretInput, 'InputRequired', [secretInput, `${keyIdInput} is set`]);
  checkAccessKeyId(keyId, keyIdInput);
  return { credentials: s3Credentials(keyId, secret, token), credentialSource: { kind: 'inputs' } };
}
