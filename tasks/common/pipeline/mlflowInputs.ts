/**
 * The inputs of source mlflow: the tracking server (an Azure ML workspace's azureml:// URI too),
 * the registered model, an alias, a bearer token from a secret variable, and the AzureRM
 * connection for an Azure ML workspace and for artifacts in Blob Storage or Azure ML datastores.
 */
import { readAzureRmConnection } from '../azure/connection';
import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import { type AzureMlWorkspaceRef, azureMlTrackingOf } from '../model/azureMlTracking';
import type { MlflowModel } from '../model/mlflowStore';
import type { RetryPolicy } from '../net/retry';
import type { Agent } from './agent';
import { type FetchSettings, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { InputError } from './inputError';
import { devOpsContextOf } from './devops';
import { pickInput, requiredInput, textInput } from './inputs';
import { readS3Connection } from './s3Inputs';
import { readingInputs } from './settings';

export function readMlflowAccess(agent: Agent, retry: RetryPolicy): StoreInputs {
  const when = whenPicked(INPUTS.source, 'mlflow');
  const alias = textInput(agent, INPUTS.mlflowAlias);
  if (alias !== undefined && !/^[A-Za-z0-9_-]{1,255}$/.test(alias)) {
    throw new InputError(INPUTS.mlflowAlias.name, 'InputInvalid', [INPUTS.mlflowAlias.name, alias, 'an MLflow alias has letters, digits, \'_\' and \'-\', such as champion']);
  }
  const token = agent.secretInput(INPUTS.mlflowToken.name);
  const tracking = trackingUriInput(agent, when);
  const registeredModel = requiredInput(agent, INPUTS.registeredModel, when);
  const azure = readAzureAccess(agent, tracking.azureMl !== undefined && !token, tracking.text);
  const model: MlflowModel = Object.freeze({
    trackingUri: tracking.restBase,
    registeredModel,
    ...(alias ? { alias } : {}),
    ...(token ? { token } : {}),
    ...(tracking.azureMl ? { azureMlWorkspace: tracking.azureMl } : {}),
  });
  // Artifacts kept in S3 (s3:// download URIs) are read with the AWS inputs, when given.
  const s3 = agent.input(INPUTS.awsCredentials.name) || agent.input(INPUTS.awsAccessKeyId.name) ? readS3Connection(agent, retry) : undefined;
  // Artifacts kept in Blob Storage are read with a connection string of their account, or the AzureRM connection.
  const blobConnectionString = agent.secretInput(INPUTS.connectionString.name);
  const connectionName = INPUTS.azureSubscription.name;
  const settings = {
    // A credential the store refuses: S3's keys, a Blob connection string, or the AzureRM connection.
    storeCredential: blobConnectionString ? INPUTS.connectionString.name : connectionName,
    ...s3?.settings,
    // The connection a Blob Storage or datastore URI needs when the task has none.
    storeConnection: connectionName,
    trackingCredential: tracking.azureMl && azure ? connectionName : INPUTS.mlflowToken.name,
    // The workspace's resource group and name come from the tracking URI.
    resourceGroup: INPUTS.mlflowTrackingUri.name,
    workspace: INPUTS.mlflowTrackingUri.name,
    modelName: INPUTS.registeredModel.name,
    modelLabel: INPUTS.mlflowAlias.name,
  } satisfies FetchSettings;
  const access = { kind: 'mlflow', model, retry, ...(s3 ? { s3: s3.access } : {}), ...(blobConnectionString ? { blobConnectionString } : {}), ...(azure ? { azure } : {}) } as const;
  return { access, settings };
}

/** The AzureRM connection, when connectionType is azureResourceManager and one is given; required for an Azure ML tracking URI without a token. */
function readAzureAccess(agent: Agent, required: boolean, trackingUri: string) {
  const name = INPUTS.azureSubscription.name;
  const endpointId = pickInput(agent, INPUTS.connectionType) === 'azureResourceManager' ? agent.input(name) : undefined;
  if (!endpointId) {
    if (required) throw new InputError(name, 'MlflowTrackingNeedsConnection', [trackingUri]);
    return undefined;
  }
  const connection = readingInputs({ storeConnection: name }, () => readAzureRmConnection(agent.endpoint(endpointId), 'storeConnection', endpointId));
  return { connection, devOps: devOpsContextOf(agent, endpointId) };
}

/**
 * An http(s) URL without credentials or a query (the token has its own input, kept secret), or an
 * Azure ML workspace's tracking URI (azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/…),
 * read as its https REST base.
 */
function trackingUriInput(agent: Agent, when: string): { text: string; restBase: string; azureMl?: AzureMlWorkspaceRef } {
  const name = INPUTS.mlflowTrackingUri.name;
  const text = requiredInput(agent, INPUTS.mlflowTrackingUri, when);
  const azureMl = azureMlTrackingOf(text);
  if (azureMl) return { text, restBase: azureMl.restBase, azureMl: azureMl.workspace };
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) {
    const shown = url ? `${url.protocol}//${url.host}${url.pathname}` : text;
    throw new InputError(name, 'InputInvalid', [name, shown, 'an http(s) URL of the tracking server without credentials or query, such as https://mlflow.contoso.com (the token goes in mlflowToken), or an Azure ML workspace\'s tracking URI, azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<workspace>']);
  }
  return { text, restBase: url.toString().replace(/\/+$/, '') };
}
