/**
 * OCI 1.1 referrers: an artifact that names the image it belongs to in its `subject`. A registry
 * with the referrers API says so with an OCI-Subject header when the artifact is pushed; for one
 * without, the client keeps the `sha256-<hex>` tag index of the referrers tag schema itself: read,
 * add, write, read back, and again when another pipeline's write replaced ours.
 */
import { TaskError } from '../errors';
import { BODY_LIMITS } from '../net/body';
import type { RetryVerdict } from '../net/errors';
import { pause } from '../net/retry';
import { isContentDigest } from '../oci/digest';
import { blobOf, type Blob, rawBlobOf } from '../oci/image';
import type { Descriptor } from '../oci/layer';
import { MediaType } from '../oci/mediaTypes';
import type { RegistryClient } from '../oci/registry/client';
import { uploadSmallBlob } from '../oci/registry/upload';

/** The empty JSON object `{}`, the config of an artifact that has none. */
export const EMPTY_CONFIG = Object.freeze({ mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 });

export interface Artifact {
  readonly artifactType: string;
  /** The one layer: the statement or the bundle, with artifactType as its media type unless layerMediaType says otherwise. */
  readonly content: Buffer;
  readonly layerMediaType?: string;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ReferrerDescriptor extends Descriptor {
  readonly artifactType?: string;
}

export type ReferrersPath = 'referrersApi' | 'tagSchema';

/** The tag the referrers tag schema keeps the index of `digest`'s referrers under. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

/** An image manifest carrying the artifact, naming `subject`. Pure: the same artifact gives the same bytes. */
export function artifactManifest(artifact: Artifact, subject: Descriptor): { manifest: Blob; layer: Blob } {
  const layer = rawBlobOf(artifact.layerMediaType ?? artifact.artifactType, artifact.content);
  const manifest = blobOf(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: artifact.artifactType,
    config: EMPTY_CONFIG,
    layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.bytes.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(artifact.annotations).length > 0 ? { annotations: artifact.annotations } : {}),
  });
  return { manifest, layer };
}

/**
 * How long a write is left to settle before it is read back. The registry offers no conditional
 * write, so a writer whose read-modify-write spans our read-back can still drop us; waiting longer
 * than such a round trip takes closes most of that window.
 */
const SETTLE_MS = 150;

/** Another writer replaced the tag index between our write and our read-back. */
class ReferrerLost extends Error {}

const retryLost = (error: unknown): RetryVerdict | undefined => (error instanceof ReferrerLost ? 'retry' : undefined);

/** Pushes the artifact as a referrer of `subject`; returns its manifest digest and which path indexed it. */
export async function attachReferrer(client: RegistryClient, repository: string, subject: Descriptor, artifact: Artifact): Promise<{ digest: string; path: ReferrersPath }> {
  const { manifest, layer } = artifactManifest(artifact, subject);
  const empty = { bytes: Buffer.from('{}'), digest: EMPTY_CONFIG.digest };
  for (const blob of [empty, layer]) if (!(await client.hasBlob(repository, blob.digest))) await uploadSmallBlob(client, repository, blob);
  const { subject: indexed } = await client.putManifest(repository, manifest.digest, manifest);
  if (indexed === subject.digest) return { digest: manifest.digest, path: 'referrersApi' };
  const descriptor: ReferrerDescriptor = { mediaType: MediaType.ociManifest, digest: manifest.digest, size: manifest.bytes.length, artifactType: artifact.artifactType, ...(Object.keys(artifact.annotations).length > 0 ? { annotations: artifact.annotations } : {}) };
  await client.retrying(`referrers tag ${referrersTag(subject.digest)}`, async () => {
    await addToTagIndex(client, repository, subject.digest, descriptor);
    // Another writer that read the index before our write may still put its own: read back after it had time to.
    await pause(SETTLE_MS * (1 + Math.random()), client.options.signal);
    const now = await tagIndex(client, repository, subject.digest);
    if (!now.some((entry) => entry.digest === descriptor.digest)) throw new ReferrerLost(`another writer replaced ${referrersTag(subject.digest)}`);
  }, retryLost);
  return { digest: manifest.digest, path: 'tagSchema' };
}

async function addToTagIndex(client: RegistryClient, repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void> {
  const current = await tagIndex(client, repository, subject);
  if (current.some((entry) => entry.digest === descriptor.digest)) return;
  const index = blobOf(MediaType.ociIndex, { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...current, descriptor] });
  await client.putManifest(repository, referrersTag(subject), index);
}

/** The descriptors a peer listed that are well formed; anything else in its list is dropped. */
export function referrerDescriptors(value: unknown): ReferrerDescriptor[] {
  const manifests = (value as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests)) return [];
  return manifests.filter((entry): entry is ReferrerDescriptor => {
    const item = entry as Partial<ReferrerDescriptor> | null;
    return !!item && isContentDigest(item.digest) && typeof item.mediaType === 'string' && Number.isSafeInteger(item.size) && (item.artifactType === undefined || typeof item.artifactType === 'string');
  });
}

function parsed(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The tag schema's index of `subject`'s referrers; empty when the tag does not exist. */
async function tagIndex(client: RegistryClient, repository: string, subject: string): Promise<ReferrerDescriptor[]> {
  try {
    return referrerDescriptors(parsed((await client.getManifest(repository, referrersTag(subject))).bytes));
  } catch (error) {
    if (error instanceof TaskError && error.key === 'ImageNotFound') return [];
    throw error;
  }
}

/** The referrers of `subject` of one artifact type: through the referrers API, else the tag schema. */
export async function listReferrers(client: RegistryClient, repository: string, subject: string, artifactType: string): Promise<{ referrers: ReferrerDescriptor[]; path: ReferrersPath }> {
  const query = new URLSearchParams({ artifactType });
  const response = await client.call('GET', `/v2/${repository}/referrers/${subject}?${query}`, { headers: { accept: MediaType.ociIndex }, expect: [200, 404] });
  if (response.status === 200) {
    const listed = referrerDescriptors(parsed(await response.bytes(BODY_LIMITS.manifest, `the referrers of ${client.registry}/${repository}@${subject}`)));
    return { referrers: listed.filter((entry) => entry.artifactType === artifactType), path: 'referrersApi' };
  }
  await response.discard();
  const listed = await tagIndex(client, repository, subject);
  return { referrers: listed.filter((entry) => entry.artifactType === artifactType), path: 'tagSchema' };
}
