/**
 * Opens source mlflow: the tracking server's client, authenticated with a bearer token or with
 * the AzureRM connection's Entra tokens (an Azure ML workspace), and the stores its download URIs
 * may point into, reusing Fetch's own: S3 with the AWS inputs, Blob Storage with a connection
 * string of that account or the connection's identity, Azure ML datastores through the workspace.
 */
import type { TokenCredential } from '@azure/core-auth';
import { armTargetFor } from '../azure/arm';
import { type AzureRmConnection, armScope } from '../azure/connection';
import { azureCredential } from '../azure/credential';
import { MachineLearningClient } from '../azure/machineLearning';
import type { OidcContext } from '../azure/oidc';
import type { AzureTransport } from '../azure/transport';
import { RemoteError } from '../errors';
import type { RetryPolicy } from '../net/retry';
import { type AzureMlWorkspaceRef, artifactWorkspaceFailure, workspaceOfDatastoreUri } from './azureMlTracking';
import { datastorePathOf, openWorkspaceDatastore } from './azureMlStore';
import { openBlobStore } from './blobStore';
import { entraAuth } from './mlflowAuth';
import { MlflowClient } from './mlflowClient';
import { azureBlobOf, blobEndpointOf, type ArtifactStores, MlflowModelStore, type MlflowModel, type StoreAt } from './mlflowStore';
import type { OpenContext } from './openStore';
import type { S3Access } from './s3Access';
import type { ModelStore } from './store';

export interface MlflowAccess {
  readonly kind: 'mlflow';
  readonly model: MlflowModel;
  readonly retry: RetryPolicy;
  readonly s3?: Omit<S3Access, 'bucket'>;
  readonly blobConnectionString?: string;
  /** The AzureRM connection: the Azure ML workspace's tracking endpoint, Blob Storage and datastores. */
  readonly azure?: { readonly connection: AzureRmConnection; readonly devOps: OidcContext };
}

type OidcToken = (devOps: OidcContext) => Promise<string>;

export function openMlflowStore(access: MlflowAccess, context: OpenContext, oidcToken: OidcToken): ModelStore {
  const transport: AzureTransport = { network: context.network, signal: context.lifetime.signal, retry: access.retry, log: context.log };
  const { azure, model, s3 } = access;
  const credential = azure ? azureCredential(azure.connection, { oidcToken: () => oidcToken(azure.devOps), transport }) : undefined;
  // Azure ML's MLflow endpoint takes the Resource Manager audience, as `az account get-access-token` gives it.
  const auth = azure && credential && model.azureMlWorkspace ? entraAuth({ credential, scope: armScope(azure.connection), registerSecret: context.registerSecret, signal: context.lifetime.signal }) : undefined;
  const client = new MlflowClient({ trackingUri: new URL(model.trackingUri), token: model.token, ...(auth ? { auth } : {}), network: context.network, signal: context.lifetime.signal, retry: access.retry, log: context.log });
  const stores: ArtifactStores = {
    ...(s3 ? { openS3: async (bucket: string) => (await import('./s3Store')).openS3Store({ ...s3, bucket }, { ...context, oidcToken }) } : {}),
    ...blobOpener(access.blobConnectionString, credential, transport),
    ...(azure && credential ? { openDatastore: datastoreOpener(azure.connection, credential, model.azureMlWorkspace, transport, context.registerSecret) } : {}),
  };
  return new MlflowModelStore(model, client, stores);
}

/** Blob URLs in the connection string's account; with an AzureRM connection, any Azure Blob Storage host, with its Entra token. */
function blobOpener(connectionString: string | undefined, credential: TokenCredential | undefined, transport: AzureTransport): Pick<ArtifactStores, 'openBlob'> {
  const endpoint = connectionString ? blobEndpointOf(connectionString) : undefined;
  if (!(connectionString && endpoint) && !credential) return {};
  const openBlob = async (url: string): Promise<StoreAt | undefined> => {
    if (connectionString && endpoint && url.toLowerCase().startsWith(`${endpoint.toLowerCase()}/`)) {
      const [container, ...path] = url.slice(endpoint.length + 1).split('/');
      return { store: openBlobStore({ kind: 'connectionString', connectionString, container }, transport), prefix: `${path.join('/')}/` };
    }
    const blob = credential ? azureBlobOf(url) : undefined;
    if (!blob || !credential) return undefined;
    return { store: openBlobStore({ kind: 'tokenCredential', blobEndpoint: blob.endpoint, credential, container: blob.container }, transport), prefix: blob.path ? `${blob.path}/` : '' };
  };
  return { openBlob };
}

/**
 * azureml://…/datastores/<name>/paths/<path>: the datastore of the workspace the URI names, or of
 * the tracking workspace. A workspace the URI names came from the server, and its failures say so.
 */
function datastoreOpener(connection: AzureRmConnection, credential: TokenCredential, tracking: AzureMlWorkspaceRef | undefined, transport: AzureTransport, registerSecret: (value: string) => void) {
  const opened = new Map<string, Promise<ModelStore>>();
  return async (uri: string): Promise<StoreAt> => {
    const target = datastorePathOf(uri)!;
    const named = workspaceOfDatastoreUri(uri);
    const workspace = named ?? tracking;
    if (!workspace) throw new RemoteError('MlflowDatastoreWorkspaceUnknown', [uri]);
    const key = `${workspace.subscriptionId}/${workspace.resourceGroup}/${workspace.workspace}/${target.datastore}`.toLowerCase();
    let store = opened.get(key);
    if (!store) {
      const client = new MachineLearningClient({ ...armTargetFor(connection, { credential, transport }), ...workspace });
      const opening = openWorkspaceDatastore(target.datastore, { client, credential, registerSecret, transport });
      store = named ? opening.catch((error: unknown) => Promise.reject(artifactWorkspaceFailure(error, uri, named, connection.name))) : opening;
      opened.set(key, store);
    }
    const path = target.path.replace(/\/+$/, '');
    return { store: await store, prefix: path ? `${path}/` : '' };
  };
}
