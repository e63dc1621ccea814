import * as path from 'node:path';
import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import { InputError } from './inputError';
import type { FetchOptions } from '../model/fetch';
import type { StoreAccess } from '../model/openStore';
import type { SelectionRule } from '../model/select';
import { tagQueryProblem } from '../model/tagQuery';
import { type RetryPolicy, policyForRetries } from '../net/retry';
import type { Agent } from './agent';
import { readAzureMlAccess } from './azureMlInputs';
import { readBlobAccess } from './blobInputs';
import { type FetchSettings, type Source, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { boolInput, intInput, pickInput, requiredInput, textInput } from './inputs';
import { readPipelineArtifactAccess } from './pipelineArtifactInputs';
import { readMlflowAccess } from './mlflowInputs';
import { readOciAccess } from './ociInputs';
import { readS3Access } from './s3Inputs';
import { asInputError, type WithSettings } from './settings';

export interface FetchTaskInputs extends WithSettings {
  readonly access: StoreAccess;
  readonly fetch: FetchOptions;
}

const MiB = 1024 * 1024;

/** The settings of every source: how the version is chosen, and where it goes. */
const MODEL_SETTINGS = {
  modelSelection: INPUTS.selection.name,
  modelVersion: INPUTS.version.name,
  tagQuery: INPUTS.tagQuery.name,
  includePrereleases: INPUTS.includePrereleases.name,
  destination: INPUTS.destination.name,
} satisfies FetchSettings;

/**
 * Reads and validates every input of FetchLatestModel@1 into one frozen object, before any work,
 * with the table of which input carried each setting the core may name in this run.
 */
export function readFetchInputs(agent: Agent): FetchTaskInputs {
  const retry = policyForRetries(intInput(agent, INPUTS.retries, { min: 0, max: 20 }));
  const source = pickInput(agent, INPUTS.source);
  const rule = readRule(agent);
  const prefix = modelPrefixInput(agent, source);
  const destination = destinationInput(agent);
  const concurrency = intInput(agent, INPUTS.concurrency, { min: 1, max: 64 });
  const store = readStore(agent, source, { retry, rule, prefix, concurrency, scratchFolder: agent.variable('Agent.TempDirectory') ?? path.dirname(destination) });
  // Stores of versioned records (runs, registry versions) list one folder per version: no prefix above it.
  const pathStore = source === 'azureBlob' || source === 's3';
  return Object.freeze({
    settings: Object.freeze({ ...MODEL_SETTINGS, ...store.settings }),
    access: store.access,
    fetch: Object.freeze({
      prefix: pathStore ? prefix : '',
      // A pipeline artifact store has already narrowed to one run, which is its only version.
      rule: source === 'pipelineArtifact' ? { kind: 'highestVersion' as const } : rule,
      // A pinned run is taken as it is, whatever its build number says: the artifact's version is the run's.
      includePrereleases: boolInput(agent, INPUTS.includePrereleases) || (source === 'pipelineArtifact' && rule.kind === 'pinned'),
      destination,
      verifyIntegrity: boolInput(agent, INPUTS.verifyIntegrity),
      cacheDirectory: optionalPath(agent.pathInput(INPUTS.cacheDirectory.name)),
      download: Object.freeze({
        concurrency,
        blockSize: intInput(agent, INPUTS.blockSizeMiB, { min: 1, max: 256 }) * MiB,
        retry,
        idleTimeoutMs: 60_000,
      }),
      timeoutMs: intInput(agent, INPUTS.timeoutSeconds, { min: 10, max: 86_400 }) * 1000,
    }),
  });
}

interface StoreContext {
  readonly retry: RetryPolicy;
  readonly rule: SelectionRule;
  readonly prefix: string;
  readonly scratchFolder: string;
  readonly concurrency: number;
}

function readStore(agent: Agent, source: Source, context: StoreContext): StoreInputs {
  switch (source) {
    case 'azureBlob':
      return readBlobAccess(agent, context.retry);
    case 's3':
      return readS3Access(agent, context.retry);
    case 'pipelineArtifact':
      return readPipelineArtifactAccess(agent, context);
    case 'azureMLRegistry':
      return readAzureMlAccess(agent, context.rule, context.retry);
    case 'oci':
      return readOciAccess(agent, context);
    case 'mlflow':
      return readMlflowAccess(agent, context.retry);
  }
}

function readRule(agent: Agent): SelectionRule {
  const selection = pickInput(agent, INPUTS.selection);
  switch (selection) {
    case 'tagQuery':
      return { kind: 'tagQuery', query: tagQueryInput(agent) };
    case 'pinned':
      return { kind: 'pinned', version: requiredInput(agent, INPUTS.version, whenPicked(INPUTS.selection, 'pinned')) };
    default:
      return { kind: selection };
  }
}

/** Checked here, so a typo fails before any work with a message that points at the spot. */
function tagQueryInput(agent: Agent): string {
  const query = requiredInput(agent, INPUTS.tagQuery, whenPicked(INPUTS.selection, 'tagQuery'));
  const problem = tagQueryProblem(query);
  if (problem) throw asInputError(problem, MODEL_SETTINGS);
  return query.trim();
}

/**
 * A store prefix as typed, without leading slashes. Inside a pipeline artifact it names a folder,
 * so it ends with '/' and may not climb out; an Azure ML model has no prefix and ignores it.
 */
function modelPrefixInput(agent: Agent, source: Source): string {
  const name = INPUTS.modelPrefix.name;
  const prefix = (textInput(agent, INPUTS.modelPrefix) ?? '').replace(/^\/+/, '');
  if (source === 'azureMLRegistry' || source === 'oci' || source === 'mlflow') {
    if (prefix) agent.log.warn('ModelPrefixIgnored', prefix);
    return '';
  }
  if (source !== 'pipelineArtifact' || prefix === '') return prefix;
  if (prefix.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new InputError(name, 'InputInvalid', [name, prefix, "inside a pipeline artifact, use a folder path such as model/ without '.' or '..'"]);
  }
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** The destination is replaced as a whole, so it must not be, or contain, the agent's own folders. */
function destinationInput(agent: Agent): string {
  const name = INPUTS.destination.name;
  const destination = path.resolve(agent.pathInput(name) ?? agentDefaultOf(agent, INPUTS.destination));
  const protectedFolders = ['Build.SourcesDirectory', 'System.DefaultWorkingDirectory', 'Agent.BuildDirectory', 'Agent.WorkFolder', 'Agent.HomeDirectory', 'Agent.TempDirectory'];
  for (const variable of protectedFolders) {
    const folder = agent.variable(variable);
    if (folder && isSameOrInside(path.resolve(folder), destination)) throw new InputError(name, 'DestinationUnsafe', [name, destination, variable, folder]);
  }
  if (destination === path.parse(destination).root) throw new InputError(name, 'DestinationUnsafe', [name, destination, 'the file system root', destination]);
  const system = systemFolderHolding(destination, process.platform === 'win32' ? 'win32' : 'posix');
  if (system) throw new InputError(name, 'DestinationSystemFolder', [name, destination, system]);
  return destination;
}

/** task.json's default for an input, with the agent variables it names expanded as the agent expands them. */
function agentDefaultOf(agent: Agent, input: { readonly name: string; readonly agentDefault: string }): string {
  return input.agentDefault.replace(/\$\(([^)]+)\)/g, (_, variable: string) => {
    const value = agent.variable(variable);
    if (value === undefined) throw new InputError(input.name, 'InputRequired', [input.name, `the variable ${variable} is not set`]);
    return value;
  });
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
