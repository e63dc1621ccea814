/**
 * What each model store's input reader returns: the access it read, and which input carried each
 * setting the core may name in a SettingError in this run (pipeline/settings.ts). The credential
 * alone comes from connectionString, sasUrl, azureSubscription, awsCredentials or the AWS secret
 * key, depending on the source and the connection type.
 */
import type { FetchLatestModelInputs } from '../contract/fetchLatestModel';
import type { DevOpsSetting } from '../devops/credential';
import type { StoreAccess } from '../model/openStore';
import type { ModelSetting } from '../model/settings';

/** What azure/ raises for Fetch's stores: the connection, the storage account, the Azure ML names. */
type AzureSetting = 'storeConnection' | 'storageAccount' | 'resourceGroup' | 'workspace' | 'modelName';

/** A table of Fetch's settings; `satisfies FetchSettings` makes a misspelt setting a compile error. */
export type FetchSettings = { readonly [S in ModelSetting | DevOpsSetting | AzureSetting]?: string };

export interface StoreInputs {
  readonly access: StoreAccess;
  /** Setting -> input, for the settings this store can raise. */
  readonly settings: Readonly<Record<string, string>>;
}

export type Source = (typeof FetchLatestModelInputs.source.options)[number];

interface PickList {
  readonly name: string;
  readonly options: readonly string[];
}

/** "source is 's3'", for a message; the value is checked against task.json's pick list. */
export function whenPicked<T extends PickList>(input: T, value: T['options'][number]): string {
  return `${input.name} is '${value}'`;
}
