import { readAzureRmConnection } from '../azure/connection';
import { InputError } from '../errors';
import type { BlobStoreSettings } from '../model/blobStore';
import type { StoreAccess } from '../model/openStore';
import type { Agent } from './agent';
import { devOpsContextOf } from './devops';
import { pickInput, requiredInput } from './inputs';
import { readingInputs } from './settings';

export const CONNECTION_TYPES = ['azureResourceManager', 'connectionString', 'sasUrl'] as const;

/** The inputs of source azureBlob: one case per connectionType. */
export function readBlobAccess(agent: Agent, settings: BlobStoreSettings): StoreAccess {
  const connectionType = pickInput(agent, 'connectionType', CONNECTION_TYPES, 'azureResourceManager');
  switch (connectionType) {
    case 'connectionString': {
      const connectionString = agent.secretInput('connectionString');
      if (!connectionString) throw new InputError('connectionString', 'InputRequired', ['connectionString', "connectionType is 'connectionString'"]);
      return { kind: 'connectionString', connectionString, container: containerInput(agent, true)!, settings };
    }
    case 'sasUrl': {
      const sasUrl = agent.secretInput('sasUrl');
      if (!sasUrl) throw new InputError('sasUrl', 'InputRequired', ['sasUrl', "connectionType is 'sasUrl'"]);
      return { kind: 'sasUrl', sasUrl, container: containerInput(agent, false), settings };
    }
    case 'azureResourceManager': {
      const endpointId = requiredInput(agent, 'azureSubscription', "connectionType is 'azureResourceManager'");
      const connection = readingInputs({ storeConnection: 'azureSubscription' }, () => readAzureRmConnection(agent.endpoint(endpointId), 'storeConnection', endpointId));
      return {
        kind: 'azureResourceManager',
        connection,
        storageAccount: storageAccountInput(agent),
        container: containerInput(agent, true)!,
        devOps: devOpsContextOf(agent, endpointId),
        settings,
      };
    }
  }
}

/** Azure's rules: 3-63 characters, lower-case letters, digits and single hyphens; or $root / $web. */
function containerInput(agent: Agent, required: boolean): string | undefined {
  const container = required ? requiredInput(agent, 'container', 'the model store is Azure Blob Storage') : agent.input('container');
  if (container === undefined || /^\$(root|web)$/.test(container)) return container;
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(container)) {
    throw new InputError('container', 'InputInvalid', ['container', container, 'container names have 3 to 63 characters: lower-case letters, digits and single hyphens, starting and ending with a letter or digit']);
  }
  return container;
}

function storageAccountInput(agent: Agent): string {
  const account = requiredInput(agent, 'storageAccount', "connectionType is 'azureResourceManager'");
  if (!/^[a-z0-9]{3,24}$/.test(account)) {
    throw new InputError('storageAccount', 'InputInvalid', ['storageAccount', account, 'storage account names have 3 to 24 lower-case letters and digits']);
  }
  return account;
}
