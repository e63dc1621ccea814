/**
 * Bake Model Into Image, appendLayer mode: base image + model layers -> pushed image, with no
 * daemon. Reads the model first (bad input fails before any network), then the base image, then
 * pushes only what the registry lacks. Tags are written last, so a failure never moves a tag.
 */
import { RemoteError } from '../errors';
import type { Lifetime } from '../lifetime';
import type { Log, Progress } from '../log';
import type { Network } from '../net/network';
import { bakeModelIntoImage, Provenance, type ModelBake } from './modelImage';
import { buildModelLayer, planModelLayers, type Compression } from './modelLayers';
import { readModelEntries } from './modelFiles';
import { push } from './push';
import { formatReference, repositoryName, type ImageReference } from './reference';
import type { RegistryCredential } from './registry/auth';
import { RegistryClient, type RegistryClientOptions } from './registry/client';
import { HttpError } from './registry/http';
import { readBaseImage } from './remoteImage';
import type { Layer } from './layer';

export interface RegistrySettings {
  readonly credential: RegistryCredential;
  readonly insecure: boolean;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly idleTimeoutMs: number;
  readonly chunkSize: number;
  readonly concurrency: number;
  /** Extra CA certificates (PEM) to trust; the agent's NODE_EXTRA_CA_CERTS works too. */
  readonly ca?: string;
}

/** What both modes share: where the result goes and which model it holds. */
export interface BakeTarget {
  /** Target repository (no tag or digest). */
  readonly target: ImageReference;
  readonly tags: readonly string[];
  readonly modelPath: string;
  readonly bake: Omit<ModelBake, 'baseName'>;
  readonly registry: RegistrySettings;
}

export interface BakeOptions extends BakeTarget {
  readonly baseImage: ImageReference;
  readonly compression: Compression;
  /** Seconds since the epoch for every file in the model layers (SOURCE_DATE_EPOCH, else 0). */
  readonly mtime: number;
}

export interface BakeResult {
  readonly imageRef: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly tags: readonly string[];
  readonly modelLayerDigests: readonly string[];
  /** Known in appendLayer mode; the build engine does not report them. */
  readonly bytesUploaded?: number;
  readonly bytesReused?: number;
  readonly baseDigest: string;
  readonly platforms: readonly string[];
}

export interface BakeContext {
  readonly log: Log;
  readonly progress: Progress;
  readonly network: Network;
  /** The agent's cancel, and the paths to remove however the task ends (a login file, a staged model). */
  readonly lifetime: Lifetime;
  /** Registers a token the moment it is issued, so it can never be printed. */
  readonly onSecret: (value: string) => void;
}

function clientFor(registry: string, scopes: string[], settings: RegistrySettings, credential: RegistryCredential, context: BakeContext): RegistryClient {
  const options: RegistryClientOptions = { ...settings, credential, scopes, log: context.log, onSecret: context.onSecret };
  return new RegistryClient(registry, options);
}

/** Transport failures that outlived their retries become one message naming the registry. */
function explained(error: unknown, registry: string): unknown {
  if (!(error instanceof HttpError)) return error;
  if (error.code && /^(EPROTO|ERR_SSL_WRONG_VERSION_NUMBER)$/.test(error.code)) return new RemoteError('RegistryNotTls', [registry]);
  if (error.code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(error.code)) return new RemoteError('RegistryCertificateUntrusted', [registry, error.message]);
  return new RemoteError('RegistryRequestFailed', [registry, error.message]);
}

export async function bakeModel(options: BakeOptions, context: BakeContext): Promise<BakeResult> {
  const { baseImage, target, registry: settings } = options;
  const entries = await readModelEntries(options.modelPath);
  const plans = planModelLayers(entries, options.bake.modelDirectory);

  const sameRegistry = baseImage.registry === target.registry;
  const scopes = [`repository:${target.repository}:pull,push`];
  if (sameRegistry && baseImage.repository !== target.repository) scopes.push(`repository:${baseImage.repository}:pull`);
  const targetClient = clientFor(target.registry, scopes, settings, settings.credential, context);
  // A base in another registry is read anonymously: the service connection belongs to the target.
  const baseClient = sameRegistry
    ? targetClient
    : clientFor(baseImage.registry, [`repository:${baseImage.repository}:pull`], settings, { kind: 'anonymous' }, context);
  try {
    const base = await readBaseImage(baseClient, baseImage).catch((error) => {
      throw explained(error, baseImage.registry);
    });
    for (const skipped of base.skipped) context.log.info('IndexEntrySkipped', skipped.digest, skipped.platform ? `${skipped.platform.os}/${skipped.platform.architecture}` : 'no platform');
    const layers: { layer: Layer; description: string }[] = [];
    for (const plan of plans) {
      layers.push({ layer: await buildModelLayer(plan, { mtime: options.mtime, compression: options.compression }), description: plan.description });
    }
    const bake: ModelBake = { ...options.bake, baseName: formatReference(baseImage) };
    const images = base.platforms.map(({ image, baseDigest }) => bakeModelIntoImage(image, baseDigest, layers, bake));
    const index = { annotations: { [Provenance.baseName]: bake.baseName, [Provenance.baseDigest]: base.digest } };
    const pushed = await push(
      targetClient,
      { repository: target.repository, images, tags: options.tags, ...(base.isIndex ? { index } : {}) },
      { concurrency: settings.concurrency, chunkSize: settings.chunkSize, log: context.log, progress: context.progress },
    ).catch((error) => {
      throw explained(error, target.registry);
    });
    return {
      imageRef: `${repositoryName(target)}@${pushed.digest}`,
      digest: pushed.digest,
      mediaType: pushed.mediaType,
      tags: options.tags,
      modelLayerDigests: layers.map(({ layer }) => layer.digest),
      bytesUploaded: pushed.bytesUploaded,
      bytesReused: pushed.bytesReused,
      baseDigest: base.digest,
      platforms: base.platforms.map(({ image }) => (image.platform ? `${image.platform.os}/${image.platform.architecture}` : `${image.config.os ?? 'linux'}/${image.config.architecture ?? 'amd64'}`)),
    };
  } finally {
    targetClient.close();
    if (baseClient !== targetClient) baseClient.close();
  }
}
