/**
 * Pushes OCI artifacts (ModelPack, ModelKit, plain images) to the test registry with plain HTTP
 * requests, as `oras push` would: each blob by a monolithic upload, then the manifest.
 */
import { basicAuth, rawRequest } from './http';
import { sha256, type Descriptor } from './ociLayout';
import type { TestRegistry } from './registry';

export interface BlobSpec {
  readonly mediaType: string;
  readonly data: Buffer;
  readonly annotations?: Record<string, string>;
}

export interface ArtifactSpec {
  readonly config: BlobSpec;
  /** Blobs to push, or descriptors of blobs already in the repository (a large file uploaded by curl). */
  readonly layers: readonly (BlobSpec | Descriptor)[];
  readonly annotations?: Record<string, string>;
  readonly artifactType?: string;
}

function headers(registry: TestRegistry, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, ...(registry.username ? { authorization: basicAuth(registry.username, registry.password ?? '') } : {}) };
}

export async function pushBlob(registry: TestRegistry, repository: string, blob: BlobSpec): Promise<Descriptor> {
  const digest = sha256(blob.data);
  const start = await rawRequest(`${registry.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: headers(registry), body: '', ca: registry.caPem });
  if (start.status !== 202) throw new Error(`upload start: ${start.status} ${start.body}`);
  const location = new URL(String(start.headers.location), registry.url);
  location.searchParams.set('digest', digest);
  const put = await rawRequest(location.toString(), { method: 'PUT', headers: headers(registry, { 'content-type': 'application/octet-stream' }), body: blob.data, ca: registry.caPem });
  if (put.status !== 201) throw new Error(`upload of ${digest}: ${put.status} ${put.body}`);
  return { mediaType: blob.mediaType, digest, size: blob.data.length, ...(blob.annotations ? { annotations: blob.annotations } : {}) };
}

/** Pushes the blobs and the manifest under `tag`; returns the manifest's digest. */
export async function pushArtifact(registry: TestRegistry, repository: string, tag: string, spec: ArtifactSpec): Promise<string> {
  const config = await pushBlob(registry, repository, spec.config);
  const layers = [];
  for (const layer of spec.layers) layers.push('data' in layer ? await pushBlob(registry, repository, layer) : layer);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...(spec.artifactType ? { artifactType: spec.artifactType } : {}),
    config,
    layers,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  }));
  const put = await rawRequest(`${registry.url}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: headers(registry, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }), body: manifest, ca: registry.caPem });
  if (put.status !== 201) throw new Error(`manifest ${repository}:${tag}: ${put.status} ${put.body}`);
  return sha256(manifest);
}
