import { readAzureRmConnection } from '../azure/connection';
import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import { InputError } from './inputError';
import type { SelectionRule } from '../model/select';
import type { RetryPolicy } from '../net/retry';
import type { Agent } from './agent';
import { devOpsContextOf } from './devops';
import { type FetchSettings, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { pickInput, requiredInput } from './inputs';
import { readingInputs } from './settings';

/** Which input carries each setting of an Azure ML store: the connection reaches the workspace and its datastores. */
const AZURE_ML_SETTINGS = {
  storeConnection: INPUTS.azureSubscription.name,
  storeCredential: INPUTS.azureSubscription.name,
  resourceGroup: INPUTS.resourceGroup.name,
  workspace: INPUTS.workspace.name,
  modelName: INPUTS.modelName.name,
  modelLabel: INPUTS.modelLabel.name,
} satisfies FetchSettings;

/** The inputs of source azureMLRegistry: the AzureRM connection's subscription holds the workspace. */
export function readAzureMlAccess(agent: Agent, rule: SelectionRule, retry: RetryPolicy): StoreInputs {
  const when = whenPicked(INPUTS.source, 'azureMLRegistry');
  // The designer shows connectionType for this source too; only a service connection reaches a workspace.
  const connectionType = pickInput(agent, INPUTS.connectionType);
  if (connectionType !== 'azureResourceManager') {
    const name = INPUTS.connectionType.name;
    throw new InputError(name, 'InputInvalid', [name, connectionType, "source 'azureMLRegistry' reaches the workspace through an Azure Resource Manager service connection: use azureResourceManager"]);
  }
  const endpointId = requiredInput(agent, INPUTS.azureSubscription, when);
  const connection = readingInputs({ storeConnection: INPUTS.azureSubscription.name }, () => readAzureRmConnection(agent.endpoint(endpointId), 'storeConnection', endpointId));
  const model = {
    subscriptionId: connection.subscriptionId,
    resourceGroup: checked(agent, INPUTS.resourceGroup, when, /^[-\w.()]{0,89}[-\w()]$/u, 'resource group names have 1 to 90 letters, digits, underscores, hyphens, periods and parentheses, and do not end with a period'),
    workspace: checked(agent, INPUTS.workspace, when, /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$/, 'workspace names have 3 to 33 letters, digits, hyphens and underscores, starting with a letter or digit'),
    modelName: checked(agent, INPUTS.modelName, when, /^[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}$/, 'model names have 1 to 255 letters, digits, hyphens, underscores and periods, starting with a letter or digit'),
    ...labelOf(agent, rule),
    rule,
  };
  const access = { kind: 'azureMLRegistry', connection, model: Object.freeze(model), devOps: devOpsContextOf(agent, endpointId), retry } as const;
  return { access, settings: AZURE_ML_SETTINGS };
}

function checked(agent: Agent, input: { readonly name: string }, when: string, pattern: RegExp, rules: string): string {
  const value = requiredInput(agent, input, when);
  if (!pattern.test(value)) throw new InputError(input.name, 'InputInvalid', [input.name, value, rules]);
  return value;
}

/** Azure ML knows one model label, latest; it picks the version itself, so it rules out pinned and tagQuery. */
function labelOf(agent: Agent, rule: SelectionRule): { label?: 'latest' } {
  const name = INPUTS.modelLabel.name;
  const label = agent.input(name);
  if (label === undefined) return {};
  if (label.toLowerCase() !== 'latest') throw new InputError(name, 'InputInvalid', [name, label, "Azure ML models have one label, latest (as in azureml:<name>@latest); to choose by tags use selection tagQuery"]);
  if (rule.kind === 'pinned' || rule.kind === 'tagQuery') throw new InputError(name, 'ModelLabelConflicts', [name, rule.kind]);
  return { label: 'latest' };
}
