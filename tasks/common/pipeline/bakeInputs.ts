import { InputError } from '../errors';
import { policyForRetries } from '../net/retry';
import { azureTransportOf } from './azureTransport';
import type { BakeOptions, BakeSetting, RegistrySettings } from '../oci/bake';
import type { DockerBuildOptions, DockerfileSetting } from '../dockerfile/dockerBuild';
import { isValidTag, parseReference, parseRepository, ReferenceError, type ImageReference } from '../oci/reference';
import { registryCredential, registryOf, type RegistryAccess } from '../oci/registry/access';
import type { Agent } from './agent';
import type { WithSettings } from './settings';
import { devOpsRunOf as pipelineRunOf } from './devops';
import { boolInput, intInput, keyValueInput as keyValues, listInput, modelDigestInput, modelVersionInput, pickInput, requiredInput } from './inputs';
import { readRegistryConnection } from './registryConnection';

export type BakeTaskInputs = WithSettings & (
  | { readonly mode: 'appendLayer'; readonly options: BakeOptions }
  | { readonly mode: 'dockerBuild'; readonly options: DockerBuildOptions }
);

/**
 * Which input carries each setting the core may name (pipeline/settings.ts). registryConnection is
 * the ACR connection's, named by azure/ when it reads the service connection.
 */
export const BAKE_SETTINGS = Object.freeze({
  modelPath: 'modelPath',
  timeout: 'timeoutSeconds',
  dockerfile: 'dockerfile',
  registryConnection: 'containerRegistry',
} satisfies Record<BakeSetting | DockerfileSetting | 'registryConnection', string>);

const MiB = 1024 * 1024;

function reference(input: string, text: string, parse: (text: string) => ImageReference): ImageReference {
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof ReferenceError) throw new InputError(input, 'InputInvalid', [input, text, `${error.message}. Expected e.g. myacr.azurecr.io/churn-app:1.0`]);
    throw error;
  }
}

function tagsInput(agent: Agent): string[] {
  const tags = [...new Set(listInput(agent, 'tags'))];
  const bad = tags.find((tag) => !isValidTag(tag));
  if (bad !== undefined) throw new InputError('tags', 'InputInvalid', ['tags', bad, "a tag has letters, digits, '_', '.' and '-', up to 128 characters, and does not start with '.' or '-'"]);
  return tags;
}

function modelDirectoryInput(agent: Agent): string {
  const value = agent.input('modelDirectory') ?? '/models';
  const segments = value.split('/').slice(1);
  const valid = value.startsWith('/') && !/[\\\u0000]/.test(value) && segments.some(Boolean) && !segments.some((part) => part === '.' || part === '..');
  if (!valid) throw new InputError('modelDirectory', 'InputInvalid', ['modelDirectory', value, "use an absolute path inside the image below '/', such as /models, without '.' or '..'"]);
  return `/${segments.filter(Boolean).join('/')}`;
}

function sourceDateEpoch(agent: Agent): number {
  const text = agent.variable('SOURCE_DATE_EPOCH');
  if (text === undefined) return 0;
  if (!/^\d{1,11}$/.test(text)) throw new InputError('SOURCE_DATE_EPOCH', 'InputInvalid', ['SOURCE_DATE_EPOCH', text, 'expected whole seconds since 1970-01-01 UTC']);
  return Number(text);
}

function registrySettings(agent: Agent, access: RegistryAccess): RegistrySettings {
  return {
    credential: registryCredential(access, azureTransportOf(agent)),
    insecure: boolInput(agent, 'allowInsecureRegistry', false),
    retryPolicy: policyForRetries(intInput(agent, 'retries', { min: 0, max: 20, fallback: 5 })),
    chunkSize: intInput(agent, 'chunkSizeMiB', { min: 1, max: 1024, fallback: 64 }) * MiB,
    concurrency: 4,
  };
}

/** The target must be the registry the service connection is for, or its credentials go nowhere. */
function checkRegistry(access: RegistryAccess, target: ImageReference, input: string, text: string): void {
  const registry = registryOf(access);
  if (registry !== undefined && registry !== target.registry) {
    throw new InputError(input, 'InputInvalid', [input, text, `it is in registry ${target.registry}, but input 'containerRegistry' is a connection for ${registry}`]);
  }
}

/** Reads and validates every input of BakeModelIntoImage@1 into one frozen object, before any work. */
export function readBakeInputs(agent: Agent): BakeTaskInputs {
  const mode = pickInput(agent, 'mode', ['appendLayer', 'dockerBuild'] as const, 'appendLayer');
  const access = readRegistryConnection(agent, 'containerRegistry');
  const modelPath = agent.pathInput('modelPath');
  if (modelPath === undefined) throw new InputError('modelPath', 'InputMissing', ['modelPath', 'the model file or folder to bake, typically $(fetch.modelPath)']);
  const imageText = agent.input('image');
  const common = {
    tags: tagsInput(agent),
    modelPath,
    bake: {
      modelDirectory: modelDirectoryInput(agent),
      modelVersion: modelVersionInput(agent),
      modelDigest: modelDigestInput(agent),
      setModelEnv: boolInput(agent, 'setModelEnv', true),
      labels: keyValues(agent, 'labels'),
      ...(boolInput(agent, 'addPipelineData', true) ? { pipelineRun: pipelineRunOf(agent) } : {}),
      created: new Date(sourceDateEpoch(agent) * 1000).toISOString().replace('.000Z', 'Z'),
    },
    registry: registrySettings(agent, access),
    timeoutMs: intInput(agent, 'timeoutSeconds', { min: 5, max: 86_400, fallback: 3600 }) * 1000,
  };
  if (mode === 'dockerBuild') {
    const target = reference('image', requiredInput(agent, 'image', "mode is 'dockerBuild'"), parseRepository);
    checkRegistry(access, target, 'image', imageText!);
    return Object.freeze({ mode, settings: BAKE_SETTINGS, options: Object.freeze({ ...common, target, access, dockerfile: agent.pathInput('dockerfile'), buildContext: agent.pathInput('buildContext'), buildArguments: keyValues(agent, 'buildArguments') }) });
  }
  const baseText = requiredInput(agent, 'baseImage', "mode is 'appendLayer'");
  const baseImage = reference('baseImage', baseText, parseReference);
  const target = imageText === undefined ? { registry: baseImage.registry, repository: baseImage.repository } : reference('image', imageText, parseRepository);
  checkRegistry(access, target, imageText === undefined ? 'baseImage' : 'image', imageText ?? baseText);
  return Object.freeze({
    settings: BAKE_SETTINGS,
    mode,
    options: Object.freeze({ ...common, baseImage, target, compression: pickInput(agent, 'compression', ['none', 'gzip'] as const, 'none'), mtime: sourceDateEpoch(agent) }),
  });
}
