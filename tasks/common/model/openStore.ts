import { armTargetFor, findStorageAccountBlobEndpoint } from '../azure/arm';
import type { AzureRmConnection } from '../azure/connection';
import type { OidcContext } from '../azure/oidc';
import type { AzureTransport } from '../azure/transport';
import type { Lifetime } from '../lifetime';
import type { Log, Progress } from '../log';
import type { Network } from '../net/network';
import type { RetryPolicy } from '../net/retry';
import type { RegistryCredential } from '../oci/registry/auth';
import { RegistryClient } from '../oci/registry/client';
import type { AzureMlModel } from './azureMlStore';
import type { MlflowAccess } from './openMlflow';
import { OciModelStore, type OciModel } from './ociStore';
import { openBlobStore } from './blobStore';
import type { PipelineArtifactAccess } from './pipelineArtifactStore';
import type { S3Access } from './s3Access';
import type { ModelStore } from './store';

/** Everything needed to reach the model store, as validated from the task's inputs. */
export type StoreAccess =
  | { readonly kind: 'connectionString'; readonly connectionString: string; readonly container: string; readonly retry: RetryPolicy }
  | { readonly kind: 'sasUrl'; readonly sasUrl: string; readonly container?: string; readonly retry: RetryPolicy }
  | {
      readonly kind: 'azureResourceManager';
      readonly connection: AzureRmConnection;
      readonly storageAccount: string;
      readonly container: string;
      readonly devOps: OidcContext;
      readonly retry: RetryPolicy;
    }
  | { readonly kind: 's3'; readonly s3: S3Access }
  | { readonly kind: 'pipelineArtifact'; readonly artifact: PipelineArtifactAccess }
  | {
      readonly kind: 'azureMLRegistry';
      readonly connection: AzureRmConnection;
      readonly model: AzureMlModel;
      readonly devOps: OidcContext;
      readonly retry: RetryPolicy;
    }
  | { readonly kind: 'oci'; readonly model: OciModel; readonly credential: RegistryCredential; readonly insecure: boolean; readonly retry: RetryPolicy }
  | MlflowAccess;

/** What opening a store may need from the caller: where to report, and how to mask a secret it learns. */
export interface OpenContext {
  readonly log: Log;
  readonly progress: Progress;
  readonly network: Network;
  readonly lifetime: Lifetime;
  /** Registers a credential the store obtains at run time (an Azure ML datastore key) as a secret. */
  readonly registerSecret: (value: string) => void;
}

/**
 * Opens the store the access names. The S3, pipeline artifact, Azure ML and MLflow stores,
 * @azure/identity and the Azure DevOps client are imported only when chosen: the build splits them
 * into chunks of their own, so a blob fetch neither parses nor initializes them (most of a cache
 * hit's start-up).
 */
export async function openModelStore(access: StoreAccess, context: OpenContext): Promise<ModelStore> {
  const oidcToken = async (devOps: OidcContext) =>
    (await import('../azure/oidc')).requestPipelineOidcToken(devOps, { network: context.network, signal: context.lifetime.signal, log: context.log });
  const azureCredential = async () => (await import('../azure/credential')).azureCredential;
  switch (access.kind) {
    case 'connectionString':
    case 'sasUrl':
      return openBlobStore(access, transportOf(access.retry, context));
    case 'azureResourceManager': {
      const transport = transportOf(access.retry, context);
      const credential = (await azureCredential())(access.connection, { oidcToken: () => oidcToken(access.devOps), transport });
      const blobEndpoint = await findStorageAccountBlobEndpoint({ ...armTargetFor(access.connection, { credential, transport }), subscriptionId: access.connection.subscriptionId, accountName: access.storageAccount, log: context.log });
      return openBlobStore({ kind: 'tokenCredential', blobEndpoint, credential, container: access.container }, transport);
    }
    case 's3':
      return (await import('./s3Store')).openS3Store(access.s3, { ...context, oidcToken });
    case 'pipelineArtifact':
      return (await import('./pipelineArtifactStore')).openPipelineArtifactStore(access.artifact, context);
    case 'azureMLRegistry': {
      const [{ MachineLearningClient }, { openAzureMlStore }, newCredential] = await Promise.all([import('../azure/machineLearning'), import('./azureMlStore'), azureCredential()]);
      const transport = transportOf(access.retry, context);
      const credential = newCredential(access.connection, { oidcToken: () => oidcToken(access.devOps), transport });
      const { subscriptionId, resourceGroup, workspace } = access.model;
      const client = new MachineLearningClient({ ...armTargetFor(access.connection, { credential, transport }), subscriptionId, resourceGroup, workspace });
      return openAzureMlStore(access.model, { client, credential, registerSecret: context.registerSecret, transport });
    }
    case 'oci': {
      const { model } = access;
      const client = new RegistryClient(model.registry, {
        network: context.network,
        signal: context.lifetime.signal,
        credential: access.credential,
        insecure: access.insecure,
        scopes: [`repository:${model.repository}:pull`],
        retryPolicy: access.retry,
        log: context.log,
        onSecret: context.registerSecret,
      });
      return new OciModelStore(model, client, context);
    }
    case 'mlflow':
      return (await import('./openMlflow')).openMlflowStore(access, context, oidcToken);
  }
}

/** How the Azure clients of one store send: the task's network and cancel, the retries its inputs ask for. */
function transportOf(retry: RetryPolicy, context: OpenContext): AzureTransport {
  return { network: context.network, signal: context.lifetime.signal, retry, log: context.log };
}
