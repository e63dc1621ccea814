import * as path from 'node:path';
import { InputError } from '../errors';
import type { FetchOptions } from '../model/fetch';
import type { StoreAccess } from '../model/openStore';
import type { SelectionRule } from '../model/select';
import { validateTagQuery } from '../model/tagQuery';
import type { Agent } from './agent';
import type { SettingInputs, WithSettings } from './settings';
import { readAzureMlAccess } from './azureMlInputs';
import { readBlobAccess } from './blobInputs';
import { boolInput, intInput, pickInput, requiredInput } from './inputs';
import { readPipelineArtifactAccess } from './pipelineArtifactInputs';
import { readS3Access } from './s3Inputs';

export interface FetchTaskInputs extends WithSettings {
  readonly access: StoreAccess;
  readonly fetch: FetchOptions;
}

export const SOURCES = ['azureBlob', 's3', 'pipelineArtifact', 'azureMLRegistry'] as const;
type Source = (typeof SOURCES)[number];
const SELECTIONS = ['highestVersion', 'newest', 'tagQuery', 'pinned'] as const;
const MiB = 1024 * 1024;

/** Which input carries each setting the core may name (pipeline/settings.ts). */
const FETCH_SETTINGS: SettingInputs = Object.freeze({});

/** Reads and validates every input of FetchLatestModel@1 into one frozen object, before any work. */
export function readFetchInputs(agent: Agent): FetchTaskInputs {
  const retries = intInput(agent, 'retries', { min: 0, max: 20, fallback: 5 });
  const source = pickInput(agent, 'source', SOURCES, 'azureBlob');
  const rule = readRule(agent);
  const prefix = modelPrefixInput(agent, source);
  const destination = destinationInput(agent);
  const access = readAccess(agent, source, { retries, rule, prefix, scratchFolder: agent.variable('Agent.TempDirectory') ?? path.dirname(destination) });
  // Stores of versioned records (runs, registry versions) list one folder per version: no prefix above it.
  const pathStore = source === 'azureBlob' || source === 's3';
  return Object.freeze({
    settings: FETCH_SETTINGS,
    access,
    fetch: Object.freeze({
      prefix: pathStore ? prefix : '',
      // A pipeline artifact store has already narrowed to one run, which is its only version.
      rule: source === 'pipelineArtifact' ? { kind: 'highestVersion' as const } : rule,
      destination,
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

interface AccessContext {
  readonly retries: number;
  readonly rule: SelectionRule;
  readonly prefix: string;
  readonly scratchFolder: string;
}

function readAccess(agent: Agent, source: Source, context: AccessContext): StoreAccess {
  const settings = { retries: context.retries, retryDelayMs: 500 };
  switch (source) {
    case 'azureBlob':
      return readBlobAccess(agent, settings);
    case 's3':
      return readS3Access(agent, context.retries);
    case 'pipelineArtifact':
      return readPipelineArtifactAccess(agent, context);
    case 'azureMLRegistry':
      return readAzureMlAccess(agent, context.rule, settings);
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

/**
 * A store prefix as typed, without leading slashes. Inside a pipeline artifact it names a folder,
 * so it ends with '/' and may not climb out; an Azure ML model has no prefix and ignores it.
 */
function modelPrefixInput(agent: Agent, source: Source): string {
  const prefix = (agent.input('modelPrefix') ?? '').replace(/^\/+/, '');
  if (source === 'azureMLRegistry') {
    if (prefix) agent.log.warn('ModelPrefixIgnored', prefix);
    return '';
  }
  if (source !== 'pipelineArtifact' || prefix === '') return prefix;
  if (prefix.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new InputError('modelPrefix', 'InputInvalid', ['modelPrefix', prefix, "inside a pipeline artifact, use a folder path such as model/ without '.' or '..'"]);
  }
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
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
  const system = systemFolderHolding(destination, process.platform === 'win32' ? 'win32' : 'posix');
  if (system) throw new InputError('destination', 'DestinationSystemFolder', ['destination', destination, system]);
  return destination;
}

/** Folders of the operating system that nothing may be installed in, nor below. */
const SYSTEM_TREES = {
  posix: [/^\/(etc|bin|sbin|lib|lib32|lib64|libx32|boot|proc|sys|dev)(\/|$)/, /^\/usr\/(bin|sbin|lib|lib32|lib64|libx32|libexec|include)(\/|$)/, /^\/(System|private\/etc)(\/|$)/],
  win32: [/^[a-z]:\\(windows|program files|program files \(x86\))(\\|$)/i],
};
/** Folders that hold other people's things: refused themselves, though a folder of one's own below them is fine. */
const SHARED_FOLDERS = {
  posix: /^\/(usr|usr\/local|usr\/share|var|var\/lib|var\/tmp|var\/log|opt|srv|home|root|tmp|mnt|media|run|Users|Library|Applications|private|private\/var)$/,
  win32: /^[a-z]:\\(users|users\\public|programdata)$/i,
};

/** The system folder that is, or holds, `destination` (an absolute, resolved path), or undefined. */
export function systemFolderHolding(destination: string, flavor: 'posix' | 'win32'): string | undefined {
  const normalized = flavor === 'win32' ? path.win32.normalize(destination).replace(/\\+$/, '') : destination;
  for (const tree of SYSTEM_TREES[flavor]) {
    const match = tree.exec(normalized);
    if (match) return match[0].replace(/[\\/]$/, '');
  }
  return SHARED_FOLDERS[flavor].test(normalized) ? normalized : undefined;
}

function isSameOrInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function optionalPath(value: string | undefined): string | undefined {
  return value === undefined ? undefined : path.resolve(value);
}
