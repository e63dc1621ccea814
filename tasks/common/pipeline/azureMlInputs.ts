import { readAzureRmConnection } from '../azure/connection';
import { InputError } from '../errors';
import type { BlobStoreSettings } from '../model/blobStore';
import type { StoreAccess } from '../model/openStore';
import type { SelectionRule } from '../model/select';
import type { Agent } from './agent';
import { CONNECTION_TYPES } from './blobInputs';
import { devOpsContextOf } from './devops';
import { pickInput, requiredInput } from './inputs';
import { readingInputs } from './settings';

/** The inputs of source azureMLRegistry: the AzureRM connection's subscription holds the workspace. */
export function readAzureMlAccess(agent: Agent, rule: SelectionRule, settings: BlobStoreSettings): StoreAccess {
  // The designer shows connectionType for this source too; only a service connection reaches a workspace.
  const connectionType = pickInput(agent, 'connectionType', CONNECTION_TYPES, 'azureResourceManager');
  if (connectionType !== 'azureResourceManager') {
    throw new InputError('connectionType', 'InputInvalid', ['connectionType', connectionType, "source 'azureMLRegistry' reaches the workspace through an Azure Resource Manager service connection: use azureResourceManager"]);
  }
  const endpointId = requiredInput(agent, 'azureSubscription', "source is 'azureMLRegistry'");
  const connection = readingInputs({ storeConnection: 'azureSubscription' }, () => readAzureRmConnection(agent.endpoint(endpointId), 'storeConnection', endpointId));
  const model = {
    subscriptionId: connection.subscriptionId,
    resourceGroup: checked(agent, 'resourceGroup', /^[-\w.()]{0,89}[-\w()]$/u, 'resource group names have 1 to 90 letters, digits, underscores, hyphens, periods and parentheses, and do not end with a period'),
    workspace: checked(agent, 'workspace', /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$/, 'workspace names have 3 to 33 letters, digits, hyphens and underscores, starting with a letter or digit'),
    modelName: checked(agent, 'modelName', /^[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}$/, 'model names have 1 to 255 letters, digits, hyphens, underscores and periods, starting with a letter or digit'),
    ...labelOf(agent, rule),
    rule,
  };
  return { kind: 'azureMLRegistry', connection, model: Object.freeze(model), devOps: devOpsContextOf(agent, endpointId), settings };
}

function checked(agent: Agent, name: string, pattern: RegExp, rules: string): string {
  const value = requiredInput(agent, name, "source is 'azureMLRegistry'");
  if (!pattern.test(value)) throw new InputError(name, 'InputInvalid', [name, value, rules]);
  return value;
}

/** Azure ML knows one model label, latest; it picks the version itself, so it rules out pinned and tagQuery. */
function labelOf(agent: Agent, rule: SelectionRule): { label?: 'latest' } {
  const label = agent.input('modelLabel');
  if (label === undefined) return {};
  if (label.toLowerCase() !== 'latest') throw new InputError('modelLabel', 'InputInvalid', ['modelLabel', label, "Azure ML models have one label, latest (as in azureml:<name>@latest); to choose by tags use selection tagQuery"]);
  if (rule.kind === 'pinned' || rule.kind === 'tagQuery') throw new InputError('modelLabel', 'ModelLabelConflicts', ['modelLabel', rule.kind]);
  return { label: 'latest' };
}
