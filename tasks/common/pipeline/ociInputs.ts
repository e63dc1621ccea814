/**
 * The inputs of source oci: the repository, the Docker Registry service connection (as Bake reads
 * it) and, for an ordinary image, the folder in it that holds the model.
 */
import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import type { OciModel } from '../model/ociStore';
import { registryCredential, registryOf } from '../oci/registry/access';
import { parseRepository, ReferenceError, type ImageReference } from '../oci/reference';
import type { RetryPolicy } from '../net/retry';
import type { Agent } from './agent';
import { azureTransportOf } from './azureTransport';
import { type FetchSettings, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { InputError } from './inputError';
import { boolInput, requiredInput, textInput } from './inputs';
import { readRegistryConnection } from './registryConnection';

export function readOciAccess(agent: Agent, context: { readonly retry: RetryPolicy; readonly scratchFolder: string; readonly concurrency: number }): StoreInputs {
  const reference = repositoryInput(agent);
  const connection = readRegistryConnection(agent, INPUTS.containerRegistry.name);
  const registry = registryOf(connection);
  if (registry !== undefined && registry !== reference.registry) {
    const name = INPUTS.ociRepository.name;
    throw new InputError(name, 'InputInvalid', [name, `${reference.registry}/${reference.repository}`, `it is in registry ${reference.registry}, but input '${INPUTS.containerRegistry.name}' is a connection for ${registry}`]);
  }
  const model: OciModel = Object.freeze({
    registry: reference.registry,
    repository: reference.repository,
    modelPathInImage: modelPathInput(agent),
    scratchFolder: context.scratchFolder,
    concurrency: context.concurrency,
  });
  const settings = { storeCredential: INPUTS.containerRegistry.name, storeContainer: INPUTS.ociRepository.name, modelPathInImage: INPUTS.modelPathInImage.name } satisfies FetchSettings;
  const credential = registryCredential(connection, azureTransportOf(agent, context.retry));
  return { access: { kind: 'oci', model, credential, insecure: boolInput(agent, INPUTS.allowInsecureRegistry), retry: context.retry }, settings };
}

function repositoryInput(agent: Agent): ImageReference {
  const name = INPUTS.ociRepository.name;
  const text = requiredInput(agent, INPUTS.ociRepository, whenPicked(INPUTS.source, 'oci'));
  try {
    return parseRepository(text);
  } catch (error) {
    if (error instanceof ReferenceError) throw new InputError(name, 'InputInvalid', [name, text, `${error.message}. Expected e.g. contosoacr.azurecr.io/models/churn; pick a tag or digest with selection and version`]);
    throw error;
  }
}

/** An absolute folder such as /models/churn; the image's root itself is refused, it is not a model. */
function modelPathInput(agent: Agent): string | undefined {
  const name = INPUTS.modelPathInImage.name;
  const text = textInput(agent, INPUTS.modelPathInImage);
  if (text === undefined) return undefined;
  const segments = text.split('/').filter(Boolean);
  if (segments.length === 0 || segments.some((segment) => segment === '..' || segment === '.') || text.includes('\\')) {
    throw new InputError(name, 'InputInvalid', [name, text, "a folder inside the image such as /models/churn, without '.', '..' or backslashes, and not the image's root"]);
  }
  return segments.join('/');
}
