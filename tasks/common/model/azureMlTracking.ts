/**
 * Azure ML workspaces as MLflow servers. A workspace's tracking URI is
 * azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>;
 * the same path over https is its REST base, under which /api/2.0/mlflow/... answers.
 */
import { RemoteError, SettingError, TaskError } from '../errors';

export interface AzureMlWorkspaceRef {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly workspace: string;
}

const WORKSPACE_PATH = /^\/mlflow\/v\d+(?:\.\d+)?\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.MachineLearningServices\/workspaces\/([^/]+)\/?$/i;

/** The https REST base and the workspace of an Azure ML tracking URI (azureml:// or https); undefined for any other server. */
export function azureMlTrackingOf(uri: string): { readonly restBase: string; readonly workspace: AzureMlWorkspaceRef } | undefined {
  let url: URL;
  try {
    url = new URL(uri.replace(/^azureml:\/\//i, 'https://'));
  } catch {
    return undefined;
  }
  const match = WORKSPACE_PATH.exec(url.pathname);
  if (url.protocol !== 'https:' || !match || url.search || url.hash || url.username || url.password) return undefined;
  const [subscriptionId, resourceGroup, workspace] = match.slice(1).map(decodeURIComponent);
  return { restBase: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, workspace: { subscriptionId, resourceGroup, workspace } };
}

/** The workspace a long-form azureml://subscriptions/…/workspaces/<ws>/datastores/… URI names, if it names one. */
export function workspaceOfDatastoreUri(uri: string): AzureMlWorkspaceRef | undefined {
  const match = /^azureml:\/\/subscriptions\/([^/]+)\/resource[gG]roups\/([^/]+)\/(?:providers\/Microsoft\.MachineLearningServices\/)?workspaces\/([^/]+)\/datastores\//i.exec(uri);
  return match ? { subscriptionId: match[1], resourceGroup: match[2], workspace: match[3] } : undefined;
}

/** What the connection does not find, by the failure of a workspace request; undefined for any other failure. */
function missingPart(error: unknown): string | undefined {
  if (error instanceof SettingError && error.setting === 'workspace') return 'no such workspace in that resource group';
  if (error instanceof SettingError && error.setting === 'resourceGroup') return 'no such resource group in that subscription';
  if (error instanceof TaskError && error.key === 'AzureArmSubscriptionNotFound') return 'no such subscription, or no access to it';
  return undefined;
}

/**
 * A workspace that only an artifact location names (long form) is missing: the MLflow server gave
 * that location, so the failure is the server's, told with the location, not a setting of the
 * task (which would name mlflowTrackingUri). Any other failure is returned as it is.
 */
export function artifactWorkspaceFailure(error: unknown, location: string, workspace: AzureMlWorkspaceRef, connectionName: string): unknown {
  const missing = missingPart(error);
  if (!missing) return error;
  return new RemoteError('MlflowArtifactWorkspaceMissing', [location.split('?')[0], workspace.workspace, workspace.resourceGroup, workspace.subscriptionId, connectionName, missing], { cause: error });
}
