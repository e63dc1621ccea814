/**
 * The provenance inputs of Bake (attach, sign with what) and of Deploy (require, trust which
 * keys). Names and defaults come from the contracts generated from task.json.
 */
import { azureCredential } from '../azure/credential';
import { readAzureRmConnection } from '../azure/connection';
import { requestPipelineOidcToken } from '../azure/oidc';
import type { ProvenanceSettings } from '../attest/attest';
import { keyVaultSigner, parseKeyVaultKeyId } from '../attest/keyVaultSigner';
import { keySigner, readSigningKey, type SigningSetting } from '../attest/signer';
import type { ProvenanceGate } from '../attest/verify';
import { BakeModelIntoImageInputs as Bake, BakeModelIntoImageTask } from '../contract/bakeModelIntoImage';
import { DeployAiAppToAksInputs as Deploy } from '../contract/deployAiAppToAks';
import type { Agent } from './agent';
import { azureTransportOf } from './azureTransport';
import { devOpsContextOf } from './devops';
import { InputError } from './inputError';
import { boolInput, pickInput, requiredInput, textInput } from './inputs';
import { readingInputs } from './settings';
import { parseReference } from '../oci/reference';
import { registryCredential, registryOf } from '../oci/registry/access';
import { readRegistryConnection } from './registryConnection';

/** Which Bake input carries each signing setting a signer's failure names. */
export const SIGNING_SETTINGS = Object.freeze({
  signingKeyFile: Bake.signingKeyFile.name,
  keyVaultKeyId: Bake.keyVaultKeyId.name,
  keyVaultConnection: Bake.keyVaultConnection.name,
} satisfies Record<SigningSetting, string>);

function requiredPath(agent: Agent, name: string, when: string): string {
  const value = agent.pathInput(name);
  if (value === undefined) throw new InputError(name, 'InputRequired', [name, when]);
  return value;
}

function modelUriInput(agent: Agent): string | undefined {
  const { name } = Bake.modelUri;
  const value = textInput(agent, Bake.modelUri);
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.username || url.password || url.search) throw new InputError(name, 'InputInvalid', [name, value, 'expected a URI without credentials or query string, as Fetch Latest Model outputs in modelUri']);
  return value;
}

function keyVaultSignerInput(agent: Agent): ProvenanceSettings['signer'] {
  const keyId = requiredInput(agent, Bake.keyVaultKeyId, `${Bake.signingKey.name} is 'azureKeyVault'`);
  if (!parseKeyVaultKeyId(keyId)) throw new InputError(Bake.keyVaultKeyId.name, 'KeyVaultKeyIdInvalid', [keyId]);
  const id = requiredInput(agent, Bake.keyVaultConnection, `${Bake.signingKey.name} is 'azureKeyVault'`);
  const connection = readingInputs({ keyVaultConnection: Bake.keyVaultConnection.name }, () => readAzureRmConnection(agent.endpoint(id), 'keyVaultConnection', id, { requireSubscription: false }));
  const devOps = devOpsContextOf(agent, id);
  const transport = azureTransportOf(agent);
  const credential = azureCredential(connection, { oidcToken: () => requestPipelineOidcToken(devOps, transport), transport });
  return (client) => keyVaultSigner(keyId, { credential, network: client.options.network, signal: client.options.signal, retryPolicy: client.options.retryPolicy, onSecret: client.options.onSecret });
}

/** Bake: undefined when provenance is off; else the builder, the model's URI and how to sign. */
export function bakeProvenanceInput(agent: Agent): ProvenanceSettings | undefined {
  if (!boolInput(agent, Bake.provenance)) return undefined;
  const { name, version } = BakeModelIntoImageTask;
  const base = { builder: { id: `${name}@${version.split('.')[0]}`, version }, modelUri: modelUriInput(agent) };
  switch (pickInput(agent, Bake.signingKey)) {
    case 'none':
      return base;
    case 'pemFile': {
      const file = requiredPath(agent, Bake.signingKeyFile.name, `${Bake.signingKey.name} is 'pemFile'`);
      // The key is read now: a bad key file fails before anything is pushed.
      const key = readingInputs(SIGNING_SETTINGS, () => readSigningKey(file));
      return { ...base, signer: async () => keySigner(key, file) };
    }
    case 'azureKeyVault':
      return { ...base, signer: keyVaultSignerInput(agent) };
  }
}

/**
 * Deploy: undefined when the gate is off; else the trusted keys' file and how to read the registry:
 * with the containerRegistry connection when it is for the image's registry, else anonymously.
 */
export function deployProvenanceInput(agent: Agent, image: string, modelDigest: string | undefined): ProvenanceGate | undefined {
  if (!boolInput(agent, Deploy.requireProvenance)) return undefined;
  const trustedKeysFile = requiredPath(agent, Deploy.trustedPublicKeys.name, `${Deploy.requireProvenance.name} is true`);
  const access = readRegistryConnection(agent, Deploy.containerRegistry.name);
  const registry = registryOf(access);
  let imageRegistry: string | undefined;
  try {
    imageRegistry = parseReference(image).registry;
  } catch {
    imageRegistry = undefined;
  }
  const credential = registry !== undefined && registry === imageRegistry ? registryCredential(access, azureTransportOf(agent)) : ({ kind: 'anonymous' } as const);
  return { image, credential, trustedKeysFile, insecure: boolInput(agent, Deploy.allowInsecureRegistry), ...(modelDigest ? { modelDigest } : {}) };
}
