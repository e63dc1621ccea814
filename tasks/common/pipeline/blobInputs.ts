import { readAzureRmConnection } from '../azure/connection';
import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import { InputError } from './inputError';
import { sasUrlProblem } from '../model/blobStore';
import type { RetryPolicy } from '../net/retry';
import type { Agent } from './agent';
import { devOpsContextOf } from './devops';
import { type FetchSettings, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { pickInput, requiredInput } from './inputs';
import { asInputError, readingInputs } from './settings';

/** The inputs of source azureBlob: one case per connectionType. */
export function readBlobAccess(agent: Agent, retry: RetryPolicy): StoreInputs {
  const connectionType = pickInput(agent, INPUTS.connectionType);
  const when = whenPicked(INPUTS.connectionType, connectionType);
  switch (connectionType) {
    case 'connectionString': {
      const connectionString = requiredSecret(agent, INPUTS.connectionString, when);
      const settings = { storeCredential: INPUTS.connectionString.name, storeContainer: INPUTS.container.name } satisfies FetchSettings;
      return { access: { kind: 'connectionString', connectionString, container: containerInput(agent, true)!, retry }, settings };
    }
    case 'sasUrl': {
      const sasUrl = requiredSecret(agent, INPUTS.sasUrl, when);
      const container = containerInput(agent, false);
      const settings = { storeCredential: INPUTS.sasUrl.name, storeContainer: INPUTS.container.name } satisfies FetchSettings;
      const problem = sasUrlProblem(sasUrl, container);
      if (problem) throw asInputError(problem, settings);
      return { access: { kind: 'sasUrl', sasUrl, container, retry }, settings };
    }
    case 'azureResourceManager': {
      const endpointId = requiredInput(agent, INPUTS.azureSubscription, when);
      const connection = readingInputs({ storeConnection: INPUTS.azureSubscription.name }, () => readAzureRmConnection(agent.endpoint(endpointId), 'storeConnection', endpointId));
      const access = { kind: 'azureResourceManager', connection, storageAccount: storageAccountInput(agent, when), container: containerInput(agent, true)!, devOps: devOpsContextOf(agent, endpointId), retry } as const;
      const settings = {
        storeConnection: INPUTS.azureSubscription.name,
        storeCredential: INPUTS.azureSubscription.name,
        storageAccount: INPUTS.storageAccount.name,
        storeContainer: INPUTS.container.name,
      } satisfies FetchSettings;
      return { access, settings };
    }
  }
}

/** A secret input (registered as a secret as it is read) that this connection type needs. */
function requiredSecret(agent: Agent, input: { readonly name: string }, when: string): string {
  const value = agent.secretInput(input.name);
  if (!value) throw new InputError(input.name, 'InputRequired', [input.name, when]);
  return value;
}

/** Azure's rules: 3-63 characters, lower-case letters, digits and single hyphens; or $root / $web. */
function containerInput(agent: Agent, required: boolean): string | undefined {
  const name = INPUTS.container.name;
  const container = required ? requiredInput(agent, INPUTS.container, 'the model store is Azure Blob Storage') : agent.input(name);
  if (container === undefined || /^\$(root|web)$/.test(container)) return container;
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(container)) {
    throw new InputError(name, 'InputInvalid', [name, container, 'container names have 3 to 63 characters: lower-case letters, digits and single hyphens, starting and ending with a letter or digit']);
  }
  return container;
}

function storageAccountInput(agent: Agent, when: string): string {
  const name = INPUTS.storageAccount.name;
  const account = requiredInput(agent, INPUTS.storageAccount, when);
  if (!/^[a-z0-9]{3,24}$/.test(account)) {
    throw new InputError(name, 'InputInvalid', [name, account, 'storage account names have 3 to 24 lower-case letters and digits']);
  }
  return account;
}
