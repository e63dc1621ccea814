import * as path from 'node:path';
import { readAzureRmConnection } from '../azure/connection';
import { InputError } from '../errors';
import type { FetchOptions } from '../model/fetch';
import type { StoreAccess } from '../model/openStore';
import type { SelectionRule } from '../model/select';
import { validateTagQuery } from '../model/tagQuery';
import type { Agent } from './agent';
import { devOpsContextOf } from './devops';
import { boolInput, intInput, pickInput, requiredInput } from './inputs';

export interface FetchTaskInputs {
  readonly access: StoreAccess;
  readonly fetch: FetchOptions;
}

const CONNECTION_TYPES = ['azureResourceManager', 'connectionString', 'sasUrl'] as const;
const SELECTIONS = ['highestVersion', 'newest', 'tagQuery', 'pinned'] as const;
const MiB = 1024 * 1024;

/** Reads and validates every input of FetchLatestModel@1 into one frozen object, before any work. */
export function readFetchInputs(agent: Agent): FetchTaskInputs {
  const retries = intInput(agent, 'retries', { min: 0, max: 20, fallback: 5 });
  return Object.freeze({
    access: readAccess(agent, retries),
    fetch: Object.freeze({
      prefix: (agent.input('modelPrefix') ?? '').replace(/^\/+/, ''),
      rule: readRule(agent),
      destination: destinationInput(agent),
      verifyIntegrity: boolInput(agent, 'verifyIntegrity', true),
      cacheDirectory: optionalPath(agent.pathInput('cacheDirectory')),
      download: Object.freeze({
        concurrency: intInput(agent, 'concurrency', { min: 1, max: 64, fallback: 8 }),
        blockSize: intInput(agent, 'blockSizeMiB', { min: 1, max: 256, fallback: 16 }) * MiB,
        retries,
        idleTimeoutMs: 60_000,
        retryDelayMs: 500,
      }),
      timeoutMs: intInput(agent, 'timeoutSeconds', { min: 10, max: 86_400, fallback: 3600 }) * 1000,
    }),
  });
}

function readAccess(agent: Agent, retries: number): StoreAccess {
  const settings = { retries, retryDelayMs: 500 };
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
      const connection = readAzureRmConnection(agent.endpoint(endpointId), 'azureSubscription', endpointId);
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

function readRule(agent: Agent): SelectionRule {
  const selection = pickInput(agent, 'selection', SELECTIONS, 'highestVersion');
  switch (selection) {
    case 'tagQuery':
      return { kind: 'tagQuery', query: validateTagQuery(requiredInput(agent, 'tagQuery', "selection is 'tagQuery'")) };
    case 'pinned':
      return { kind: 'pinned', version: requiredInput(agent, 'version', "selection is 'pinned'") };
    default:
      return { kind: selection };
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

/** The destination is replaced as a whole, so it must not be, or contain, the agent's own folders. */
function destinationInput(agent: Agent): string {
  const given = agent.pathInput('destination');
  const temp = agent.variable('Agent.TempDirectory');
  if (given === undefined && temp === undefined) throw new InputError('destination', 'InputRequired', ['destination', 'the variable Agent.TempDirectory is not set']);
  const destination = path.resolve(given ?? path.join(temp!, 'model'));
  const protectedFolders = ['Build.SourcesDirectory', 'System.DefaultWorkingDirectory', 'Agent.BuildDirectory', 'Agent.WorkFolder', 'Agent.HomeDirectory', 'Agent.TempDirectory'];
  for (const variable of protectedFolders) {
    const folder = agent.variable(variable);
    if (folder && isSameOrInside(path.resolve(folder), destination)) throw new InputError('destination', 'DestinationUnsafe', ['destination', destination, variable, folder]);
  }
  if (destination === path.parse(destination).root) throw new InputError('destination', 'DestinationUnsafe', ['destination', destination, 'the file system root', destination]);
  return destination;
}

function isSameOrInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function optionalPath(value: string | undefined): string | undefined {
  return value === undefined ? undefined : path.resolve(value);
}
