/**
 * Zero-copy bake: when the model Fetch took is an OCI artifact (modelUri oci://registry/repo@digest)
 * in the registry the bake pushes to, and each of its model layers is a tar whose entries already
 * sit under modelDirectory (a modelcar: entries models/churn/... for /models/churn), those layers
 * become the image's model layers unchanged. Push then mounts them across repositories, so none
 * of the model's bytes pass through the agent. Anything else gives a reason, and the bake reads
 * modelPath as before.
 */
import type { Log } from '../log';
import { planArtifact } from '../model/ociArtifact';
import { isContentDigest } from './digest';
import type { Layer } from './layer';
import { MediaType } from './mediaTypes';
import { readPeerManifest } from './peerManifest';
import type { ImageReference } from './reference';
import type { RegistryClient } from './registry/client';
import { remoteLayer } from './remoteImage';
import type { MessageKey } from '../messages';

export interface ModelArtifact {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
}

/** oci://registry/repo@sha256:… as Fetch outputs it; undefined for any other URI. */
export function parseModelUri(uri: string | undefined): ModelArtifact | undefined {
  const match = uri ? /^oci:\/\/([^/]+)\/([^@]+)@(sha(?:256|512):[a-f0-9]+)$/.exec(uri.trim()) : null;
  if (!match || !isContentDigest(match[3])) return undefined;
  return { registry: match[1], repository: match[2], digest: match[3] };
}

/** The token scope the push client needs to mount from the model's repository, when it is in the target registry. */
export function modelMountScope(uri: string | undefined, target: ImageReference): string | undefined {
  const artifact = parseModelUri(uri);
  return artifact && artifact.registry === target.registry && artifact.repository !== target.repository ? `repository:${artifact.repository}:pull` : undefined;
}

type Outcome = { readonly layers: { layer: Layer; description: string }[] } | { readonly fallback: MessageKey; readonly args: readonly (string | number)[] };

/**
 * The model's layers, ready to mount, or why the model cannot be mounted as it is. The client is
 * the push client: the target registry's, with pull scope on the model's repository.
 */
export async function mountableModel(uri: string, target: ImageReference, modelDirectory: string, client: RegistryClient): Promise<Outcome> {
  const artifact = parseModelUri(uri);
  if (!artifact) return { fallback: 'ZeroCopyNotOci', args: [uri] };
  if (artifact.registry !== target.registry) return { fallback: 'ZeroCopyOtherRegistry', args: [uri, target.registry] };
  const image = `${artifact.registry}/${artifact.repository}@${artifact.digest}`;
  const manifest = await client.getManifest(artifact.repository, artifact.digest);
  const peer = readPeerManifest(manifest, image);
  if (peer.kind !== 'manifest') return { fallback: 'ZeroCopyNotModelPack', args: [image] };
  const json = JSON.parse(manifest.bytes.toString('utf8')) as Record<string, unknown>;
  let plan;
  try {
    plan = planArtifact(json, peer.layers, peer.config.mediaType, image);
  } catch {
    return { fallback: 'ZeroCopyNotModelPack', args: [image] };
  }
  if (plan.kind !== 'modelpack') return { fallback: 'ZeroCopyNotModelPack', args: [image] };
  const folder = modelDirectory.replace(/^\/+|\/+$/g, '');
  const misfit = plan.layers.find((layer) => layer.format === 'raw' || layer.path !== folder);
  if (misfit) return { fallback: misfit.format === 'raw' ? 'ZeroCopyRawLayer' : 'ZeroCopyLayerDoesNotFit', args: [misfit.descriptor.digest, image, misfit.path, modelDirectory] };
  const diffIds = await diffIdsOf(client, artifact, peer.config.digest, image, peer.layers.map((layer) => layer.digest));
  const layers = [];
  for (const layer of plan.layers) {
    const diffId = layer.format === 'tar' ? layer.descriptor.digest : diffIds.get(layer.descriptor.digest);
    if (!diffId) return { fallback: 'ZeroCopyNoDiffId', args: [image, layer.descriptor.digest] };
    // The same blob as an image layer: an image layer media type, its repository as the source push mounts from.
    const mediaType = layer.format === 'tar' ? MediaType.ociLayer : MediaType.ociLayerGzip;
    layers.push({ layer: remoteLayer(client, artifact.repository, { ...layer.descriptor, mediaType }, diffId), description: `model layer ${layer.descriptor.digest} mounted from ${artifact.repository}` });
  }
  return { layers };
}

/** A ModelPack config's modelfs.diffIds, by the digest of the layer at the same position. */
async function diffIdsOf(client: RegistryClient, artifact: ModelArtifact, configDigest: string, image: string, layerDigests: readonly string[]): Promise<Map<string, string>> {
  const bytes = await client.readConfig(artifact.repository, configDigest, image);
  let diffIds: unknown;
  try {
    diffIds = (JSON.parse(bytes.toString('utf8')) as { modelfs?: { diffIds?: unknown } } | null)?.modelfs?.diffIds;
  } catch {
    // A config that is not JSON lists no diffIds: the bake falls back and says so.
  }
  if (!Array.isArray(diffIds) || diffIds.length !== layerDigests.length || !diffIds.every(isContentDigest)) return new Map();
  return new Map(layerDigests.map((digest, index) => [digest, diffIds[index] as string]));
}

/** Logs the outcome; returns the layers to bake, or undefined to bake from modelPath. */
export function zeroCopyLayers(outcome: Outcome, log: Log): { layer: Layer; description: string }[] | undefined {
  if ('layers' in outcome) {
    log.info('ZeroCopyBake', outcome.layers.length, outcome.layers.reduce((sum, { layer }) => sum + layer.size, 0));
    return outcome.layers;
  }
  log.info(outcome.fallback, ...outcome.args);
  return undefined;
}
