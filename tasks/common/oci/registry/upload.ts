/**
 * Chunked blob upload (POST, PATCH..., PUT ?digest=) that survives cut connections: after a failed
 * PATCH it asks the registry how much it kept and resumes from there, and when the registry has
 * forgotten the session it starts the blob again.
 */
import { Transform, type Readable } from 'node:stream';
import { RemoteError, isTransient } from '../../errors';
import type { Layer } from '../layer';
import { checkDigest, type RegistryClient } from './client';

export interface UploadOptions {
  readonly chunkSize: number;
  /** Called with every byte count as it leaves, for progress. */
  readonly onBytes: (count: number) => void;
  /** An upload session opened already (a mount the registry declined). */
  readonly session?: URL;
}

/** Stops a stream after count bytes, so a chunk never sends more than its Content-Range says. */
function take(source: Readable, count: number, onBytes: (count: number) => void): Readable {
  let left = count;
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (left <= 0) return done();
      const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= piece.length;
      onBytes(piece.length);
      done(null, piece);
      if (left === 0) {
        this.push(null);
        source.destroy();
      }
    },
  });
  source.on('error', (error) => limiter.destroy(error));
  return source.pipe(limiter);
}

/** How many bytes the registry holds for a session, or undefined when it no longer knows it. */
async function committedBytes(client: RegistryClient, session: URL): Promise<number | undefined> {
  const response = await client.call('GET', session, { expect: [204, 404, 400, 416] });
  await response.discard();
  if (response.status !== 204) return undefined;
  const range = response.header('range')?.match(/^(?:bytes=)?0-(\d+)$/);
  // distribution reports an empty upload as "0-0", the same as one byte: take it as empty. If
  // the registry did hold a byte, the next PATCH gets 416 and the blob starts over.
  const last = range ? Number(range[1]) : 0;
  return last === 0 ? 0 : last + 1;
}

/** Uploads a blob and returns the bytes sent (including any resent after a failure). */
export async function uploadBlob(client: RegistryClient, repository: string, layer: Layer, options: UploadOptions): Promise<number> {
  let sent = 0;
  const count = (bytes: number) => {
    sent += bytes;
    options.onBytes(bytes);
  };
  let session = options.session ?? (await client.startUpload(repository));
  let offset = 0;
  let failures = 0;
  while (offset < layer.size) {
    const end = Math.min(offset + options.chunkSize, layer.size);
    try {
      const from = offset;
      const response = await client.call('PATCH', session, {
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${end - 1}`, 'content-length': end - from },
        body: () => take(layer.open(from), end - from, count),
        expect: [202],
        retry: false,
      });
      await response.discard();
      session = client.locationOf(response);
      offset = end;
    } catch (error) {
      // 416: the registry holds a different amount than this chunk assumed; start over cleanly.
      const outOfRange = (error as { statusCode?: number }).statusCode === 416;
      if ((!isTransient(error) && !outOfRange) || ++failures > client.options.retries) throw error;
      const kept = outOfRange ? undefined : await committedBytes(client, session).catch(() => undefined);
      if (kept === undefined || kept > offset + options.chunkSize) {
        // The registry refuses to resume: start this blob again from its first byte.
        session = await client.startUpload(repository);
        offset = 0;
      } else {
        offset = kept;
      }
    }
  }
  await finish(client, session, layer);
  return sent;
}

async function finish(client: RegistryClient, session: URL, layer: Layer): Promise<void> {
  const url = new URL(session);
  url.searchParams.set('digest', layer.digest);
  const response = await client.call('PUT', url, { headers: { 'content-length': 0 }, expect: [201, 204, 400] });
  if (response.status === 400) {
    throw new RemoteError('RegistryBlobRejected', [client.registry, layer.digest, (await response.text()).slice(0, 300)]);
  }
  await response.discard();
  checkDigest(client.registry, response, layer.digest);
}

/** Small blobs (configs) in one monolithic PUT. */
export async function uploadSmallBlob(client: RegistryClient, repository: string, blob: { bytes: Buffer; digest: string }): Promise<void> {
  const session = await client.startUpload(repository);
  session.searchParams.set('digest', blob.digest);
  const response = await client.call('PUT', session, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': blob.bytes.length },
    body: () => blob.bytes,
    expect: [201, 204],
  });
  await response.discard();
  checkDigest(client.registry, response, blob.digest);
}
