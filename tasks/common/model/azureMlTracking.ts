/**
 * Azure ML workspaces as MLflow servers. A workspace's tracking URI is
 * azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>;
 * the same path over https is its REST base, under which /api/2.0/mlflow/... answers.
 */

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
