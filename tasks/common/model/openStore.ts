import { findStorageAccountBlobEndpoint } from '../azure/arm';
import type { AzureRmConnection } from '../azure/connection';
import { azureCredential } from '../azure/credential';
import { requestPipelineOidcToken } from '../azure/oidc';
import type { DevOpsContext } from '../pipeline/devops';
import { openBlobStore, type BlobStoreSettings } from './blobStore';
import type { ModelStore } from './store';

/** Everything needed to reach the model store, as validated from the task's inputs. */
export type StoreAccess =
  | { readonly kind: 'connectionString'; readonly connectionString: string; readonly container: string; readonly settings: BlobStoreSettings }
  | { readonly kind: 'sasUrl'; readonly sasUrl: string; readonly container?: string; readonly settings: BlobStoreSettings }
  | {
      readonly kind: 'azureResourceManager';
      readonly connection: AzureRmConnection;
      readonly storageAccount: string;
      readonly container: string;
      readonly devOps: DevOpsContext;
      readonly settings: BlobStoreSettings;
    };

export async function openModelStore(access: StoreAccess): Promise<ModelStore> {
  switch (access.kind) {
    case 'connectionString':
    case 'sasUrl':
      return openBlobStore(access, access.settings);
    case 'azureResourceManager': {
      const credential = azureCredential(access.connection, { oidcToken: () => requestPipelineOidcToken(access.devOps) });
      const blobEndpoint = await findStorageAccountBlobEndpoint({
        armUrl: access.connection.armUrl,
        subscriptionId: access.connection.subscriptionId,
        credential,
        accountName: access.storageAccount,
      });
      return openBlobStore({ kind: 'tokenCredential', blobEndpoint, credential, container: access.container, credentialInput: 'azureSubscription' }, access.settings);
    }
  }
}
