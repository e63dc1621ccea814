import { BakeModelIntoImageInputs as Inputs } from '../contract/bakeModelIntoImage';
import type { DockerBuildOptions, DockerfileSetting } from '../dockerfile/dockerBuild';
import { InputError } from './inputError';
import { policyForRetries } from '../net/retry';
import { azureTransportOf } from './azureTransport';
import type { BakeOptions, BakeSetting, BakeTarget, RegistrySettings } from '../oci/bake';
import { isValidTag, parseReference, ReferenceError, type ImageReference } from '../oci/reference';
import { registryCredential, registryOf, type RegistryAccess } from '../oci/registry/access';
import type { Agent } from './agent';
import type { WithSettings } from './settings';
import { devOpsRunOf as pipelineRunOf } from './devops';
import { boolInput, intInput, keyValueInput as keyValues, listInput, modelDigestInput, modelVersionInput, pickInput, requiredInput, textInput } from './inputs';
import { readRegistryConnection } from './registryConnection';
import type { SigningSetting } from '../attest/signer';
import { bakeProvenanceInput, SIGNING_SETTINGS } from './provenanceInputs';

type BakeMode = (typeof Inputs.mode.options)[number];

export type BakeTaskInputs = WithSettings & (
  | { readonly mode: 'appendLayer'; readonly options: BakeOptions }
  | { readonly mode: 'dockerBuild'; readonly options: DockerBuildOptions }
);

/**
 * Which input carries each setting the core may name (pipeline/settings.ts). registryConnection is
 * the ACR connection's, named by azure/ when it reads the service connection.
 */
export const BAKE_SETTINGS = Object.freeze({
  modelPath: Inputs.modelPath.name,
  timeout: Inputs.timeoutSeconds.name,
  dockerfile: Inputs.dockerfile.name,
  registryConnection: Inputs.containerRegistry.name,
  ...SIGNING_SETTINGS,
} satisfies Record<BakeSetting | DockerfileSetting | SigningSetting | 'registryConnection', string>);

const MiB = 1024 * 1024;

function reference(input: string, text: string, parse: (text: string) => ImageReference): ImageReference {
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof ReferenceError) throw new InputError(input, 'InputInvalid', [input, text, `${error.message}. Expected e.g. myacr.azurecr.io/churn-app:1.0`]);
    throw error;
  }
}

/** The target is a repository: its tags come from the tags input, so a tag or digest here is refused. */
function targetRepository(text: string): ImageReference {
  const { name } = Inputs.image;
  const parsed = reference(name, text, parseReference);
  if (parsed.tag || parsed.digest) throw new InputError(name, 'InputInvalid', [name, text, `give a repository without a tag or digest; tags go in the ${Inputs.tags.name} input. Expected e.g. myacr.azurecr.io/churn-app:1.0`]);
  return parsed;
}

function tagsInput(agent: Agent): string[] {
  const { name } = Inputs.tags;
  const tags = [...new Set(listInput(agent, name))];
  const bad = tags.find((tag) => !isValidTag(tag));
  if (bad !== undefined) throw new InputError(name, 'InputInvalid', [name, bad, "a tag has letters, digits, '_', '.' and '-', up to 128 characters, and does not start with '.' or '-'"]);
  return tags;
}

function modelDirectoryInput(agent: Agent): string {
  const { name } = Inputs.modelDirectory;
  const value = textInput(agent, Inputs.modelDirectory) ?? '';
  const segments = value.split('/').slice(1);
  const valid = value.startsWith('/') && !/[\\\u0000]/.test(value) && segments.some(Boolean) && !segments.some((part) => part === '.' || part === '..');
  if (!valid) throw new InputError(name, 'InputInvalid', [name, value, "use an absolute path inside the image below '/', such as /models, without '.' or '..'"]);
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
    insecure: boolInput(agent, Inputs.allowInsecureRegistry),
    retryPolicy: policyForRetries(intInput(agent, Inputs.retries, { min: 0, max: 20 })),
    chunkSize: intInput(agent, Inputs.chunkSizeMiB, { min: 1, max: 1024 }) * MiB,
    concurrency: 4,
  };
}

/** The target must be the registry the service connection is for, or its credentials go nowhere. */
function checkRegistry(access: RegistryAccess, target: ImageReference, input: string, text: string): void {
  const registry = registryOf(access);
  if (registry !== undefined && registry !== target.registry) {
    throw new InputError(input, 'InputInvalid', [input, text, `it is in registry ${target.registry}, but input '${Inputs.containerRegistry.name}' is a connection for ${registry}`]);
  }
}

/** What both modes read: the model, where the image goes, and how to talk to the registry. */
function commonOptions(agent: Agent, access: RegistryAccess): Omit<BakeTarget, 'target'> {
  const { name } = Inputs.modelPath;
  const modelPath = agent.pathInput(name);
  if (modelPath === undefined) throw new InputError(name, 'InputMissing', [name, 'the model file or folder to bake, typically $(fetch.modelPath)']);
  const provenance = bakeProvenanceInput(agent);
  return {
    ...(provenance ? { provenance } : {}),
    tags: tagsInput(agent),
    modelPath,
    bake: {
      modelDirectory: modelDirectoryInput(agent),
      modelVersion: modelVersionInput(agent),
      modelDigest: modelDigestInput(agent),
      setModelEnv: boolInput(agent, Inputs.setModelEnv),
      labels: keyValues(agent, Inputs.labels.name),
      ...(boolInput(agent, Inputs.addPipelineData) ? { pipelineRun: pipelineRunOf(agent) } : {}),
      created: new Date(sourceDateEpoch(agent) * 1000).toISOString().replace('.000Z', 'Z'),
    },
    registry: registrySettings(agent, access),
    timeoutMs: intInput(agent, Inputs.timeoutSeconds, { min: 5, max: 86_400 }) * 1000,
  };
}

/** "mode is 'dockerBuild'": why an input that is optional in task.json is required in this run. */
function whenMode(mode: BakeMode): string {
  return `${Inputs.mode.name} is '${mode}'`;
}

function dockerBuildOptions(agent: Agent, access: RegistryAccess): DockerBuildOptions {
  const { image, dockerfile, buildContext, buildArguments } = Inputs;
  const common = commonOptions(agent, access);
  const imageText = requiredInput(agent, image, whenMode('dockerBuild'));
  const target = targetRepository(imageText);
  checkRegistry(access, target, image.name, imageText);
  return { ...common, target, access, dockerfile: agent.pathInput(dockerfile.name), buildContext: agent.pathInput(buildContext.name), buildArguments: keyValues(agent, buildArguments.name) };
}

/** The target repository is the base image's unless image names another. */
function appendLayerOptions(agent: Agent, access: RegistryAccess): BakeOptions {
  const { image, baseImage } = Inputs;
  const common = commonOptions(agent, access);
  const imageText = agent.input(image.name);
  const baseText = requiredInput(agent, baseImage, whenMode('appendLayer'));
  const base = reference(baseImage.name, baseText, parseReference);
  const target = imageText === undefined ? { registry: base.registry, repository: base.repository } : targetRepository(imageText);
  checkRegistry(access, target, imageText === undefined ? baseImage.name : image.name, imageText ?? baseText);
  return { ...common, baseImage: base, target, compression: pickInput(agent, Inputs.compression), mtime: sourceDateEpoch(agent), ...modelUriInput(agent) };
}

/** Fetch's modelUri; only an oci:// URI changes anything (a zero-copy bake), any other is kept for the record and ignored. */
function modelUriInput(agent: Agent): { modelUri?: string } {
  const modelUri = textInput(agent, Inputs.modelUri);
  return modelUri === undefined ? {} : { modelUri };
}

/** Reads and validates every input of BakeModelIntoImage@1 into one frozen object, before any work. */
export function readBakeInputs(agent: Agent): BakeTaskInputs {
  const mode = pickInput(agent, Inputs.mode);
  const access = readRegistryConnection(agent, Inputs.containerRegistry.name);
  if (mode === 'dockerBuild') return Object.freeze({ mode, settings: BAKE_SETTINGS, options: Object.freeze(dockerBuildOptions(agent, access)) });
  return Object.freeze({ mode, settings: BAKE_SETTINGS, options: Object.freeze(appendLayerOptions(agent, access)) });
}
