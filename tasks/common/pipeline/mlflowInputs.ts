/**
 * The inputs of source mlflow: the tracking server, the registered model, an alias, and a bearer
 * token from a secret variable.
 */
import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import type { MlflowModel } from '../model/mlflowStore';
import type { RetryPolicy } from '../net/retry';
import type { Agent } from './agent';
import { type FetchSettings, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { InputError } from './inputError';
import { requiredInput, textInput } from './inputs';
import { readS3Connection } from './s3Inputs';

export function readMlflowAccess(agent: Agent, retry: RetryPolicy): StoreInputs {
  const when = whenPicked(INPUTS.source, 'mlflow');
  const alias = textInput(agent, INPUTS.mlflowAlias);
  if (alias !== undefined && !/^[A-Za-z0-9_-]{1,255}$/.test(alias)) {
    throw new InputError(INPUTS.mlflowAlias.name, 'InputInvalid', [INPUTS.mlflowAlias.name, alias, 'an MLflow alias has letters, digits, \'_\' and \'-\', such as champion']);
  }
  const token = agent.secretInput(INPUTS.mlflowToken.name);
  const model: MlflowModel = Object.freeze({
    trackingUri: trackingUriInput(agent, when),
    registeredModel: requiredInput(agent, INPUTS.registeredModel, when),
    ...(alias ? { alias } : {}),
    ...(token ? { token } : {}),
  });
  // Artifacts kept in S3 (s3:// download URIs) are read with the AWS inputs, when given.
  const s3 = agent.input(INPUTS.awsCredentials.name) || agent.input(INPUTS.awsAccessKeyId.name) ? readS3Connection(agent, retry) : undefined;
  // Artifacts kept in Blob Storage are read with a connection string of their account, when given.
  const blobConnectionString = agent.secretInput(INPUTS.connectionString.name);
  const settings = {
    ...s3?.settings,
    ...(blobConnectionString ? { storeCredential: INPUTS.connectionString.name } : {}),
    trackingCredential: INPUTS.mlflowToken.name,
    modelName: INPUTS.registeredModel.name,
    modelLabel: INPUTS.mlflowAlias.name,
  } satisfies FetchSettings;
  return { access: { kind: 'mlflow', model, retry, ...(s3 ? { s3: s3.access } : {}), ...(blobConnectionString ? { blobConnectionString } : {}) }, settings };
}

/** An http(s) URL without credentials or a query: the token has its own input, kept secret. */
function trackingUriInput(agent: Agent, when: string): string {
  const name = INPUTS.mlflowTrackingUri.name;
  const text = requiredInput(agent, INPUTS.mlflowTrackingUri, when);
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) {
    throw new InputError(name, 'InputInvalid', [name, url ? `${url.protocol}//${url.host}${url.pathname}` : text, 'an http(s) URL of the tracking server without credentials or query, such as https://mlflow.contoso.com; the token goes in mlflowToken']);
  }
  return url.toString().replace(/\/+$/, '');
}
