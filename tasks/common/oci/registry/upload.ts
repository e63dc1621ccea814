/**
 * Chunked blob upload (POST, PATCH..., PUT ?digest=) that survives cut connections: after a failed
 * PATCH it asks the registry how much it kept and resumes from there, and when the registry has
 * forgotten the session it starts the blob again. The whole blob shares one retry budget of the
 * task's policy. A blob streamed from another registry is hashed on its way through and never
 * committed when it does not match its digest; it resumes only where the accepted bytes end.
 */
import type { Readable } from 'node:stream';
import { RemoteError } from '../../errors';
import { HttpStatusError } from '../../net/errors';
import type { Layer } from '../layer';
import { sliceOf } from './blobSlice';
import { checkDigest, type RegistryClient } from './client';
import { CommittedDigest } from './committedDigest';

export interface UploadOptions {
  readonly chunkSize: number;
  /** Called with every byte count as it leaves, for progress. */
  readonly onBytes: (count: number) => void;
  /** An upload session opened already (a mount the registry declined). */
  readonly session?: URL;
}

interface Position {
  readonly session: URL;
  readonly offset: number;
}

/** How many bytes the registry holds for a session, or undefined when it no longer knows it. */
async function committedBytes(client: RegistryClient, session: URL): Promise<number | undefined> {
  // Any answer but 204 (a 5xx included) leaves the session's state unknown: the blob starts again.
  const response = await client.call('GET', session, { expect: [204, 404, 400, 416, 500, 502, 503, 504], retry: false });
  await response.discard();
  if (response.status !== 204) return undefined;
  const range = response.header('range')?.match(/^(?:bytes=)?0-(\d+)$/);
  // distribution reports an empty upload as "0-0", the same as one byte: take it as empty. If
  // the registry did hold a byte, the next PATCH gets 416 and the blob starts over.
  const last = range ? Number(range[1]) : 0;
  return last === 0 ? 0 : last + 1;
}

/** Where to go on after a failure: the registry's own count, or a new session from the first byte. */
async function resumePosition(client: RegistryClient, repository: string, position: Position, failure: unknown, chunkSize: number): Promise<Position> {
  // 416: the registry holds a different amount than the chunk assumed; start over cleanly.
  const outOfRange = failure instanceof HttpStatusError && failure.status === 416;
  const kept = outOfRange ? undefined : await committedBytes(client, position.session);
  if (kept === undefined || kept > position.offset + chunkSize) return { session: await client.startUpload(repository), offset: 0 };
  return { session: position.session, offset: kept };
}

interface ChunkContext {
  readonly client: RegistryClient;
  readonly layer: Layer;
  readonly chunkSize: number;
  readonly verified?: CommittedDigest;
  /** Where the bytes come from, for a message when they end early. */
  readonly origin: string;
  readonly count: (piece: Buffer) => void;
}

async function sendChunk(context: ChunkContext, position: Position): Promise<Position> {
  const { client, layer, verified } = context;
  const end = Math.min(position.offset + context.chunkSize, layer.size);
  // The network layer reports a failing body as a failed request; the body's own error says more.
  let bodyFailure: unknown;
  let lastBody: Readable | undefined;
  const body = (): Readable => {
    const hash = verified?.forBody();
    const onPiece = (piece: Buffer) => {
      context.count(piece);
      hash?.(piece);
    };
    const slice = sliceOf(layer.open(position.offset), { count: end - position.offset, digest: layer.digest, from: context.origin, onPiece });
    slice.once('error', (error) => (bodyFailure = error));
    lastBody = slice;
    return slice;
  };
  try {
    const response = await client.call('PATCH', position.session, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${position.offset}-${end - 1}`, 'content-length': end - position.offset },
      body,
      expect: [202],
      retry: false,
    });
    await response.discard();
    verified?.accepted(end);
    return { session: client.locationOf(response), offset: end };
  } catch (error) {
    lastBody?.destroy();
    throw bodyFailure ?? error;
  }
}

/** Where the next attempt starts: after a failure, where the registry stands, if a streamed blob's hash can follow. */
async function nextPosition(context: ChunkContext, repository: string, position: Position, failure: unknown): Promise<Position> {
  const { client, verified } = context;
  const next = failure === undefined ? position : await resumePosition(client, repository, position, failure, context.chunkSize);
  if (!verified || verified.resumesAt(next.offset)) return next;
  verified.restart();
  return next.offset === 0 ? next : { session: await client.startUpload(repository), offset: 0 };
}

/** Uploads a blob and returns the bytes sent (including any resent after a failure). */
export async function uploadBlob(client: RegistryClient, repository: string, layer: Layer, options: UploadOptions): Promise<number> {
  let sent = 0;
  const count = (piece: Buffer) => {
    sent += piece.length;
    options.onBytes(piece.length);
  };
  const source = layer.source;
  const origin = source ? `${source.registry}/${source.repository}` : 'the model files';
  const verified = source ? new CommittedDigest(layer, origin) : undefined;
  const context: ChunkContext = { client, layer, chunkSize: options.chunkSize, verified, origin, count };
  client.options.log.debug(`uploading ${layer.digest} (${layer.size} bytes) to ${client.registry}/${repository}${verified ? `, checked against its digest on the way from ${origin}` : ''}`);
  let position: Position = { session: options.session ?? (await client.startUpload(repository)), offset: 0 };
  let failure: unknown;
  await client.retrying(`upload of ${layer.digest}`, async () => {
    try {
      position = await nextPosition(context, repository, position, failure);
      while (position.offset < layer.size) position = await sendChunk(context, position);
    } catch (error) {
      failure = error;
      throw error;
    }
  }, (error) => (error instanceof HttpStatusError && error.status === 416 ? 'retry' : undefined));
  verified?.check();
  await finish(client, position.session, layer);
  return sent;
}

async function finish(client: RegistryClient, session: URL, layer: Layer): Promise<void> {
  const url = new URL(session);
  url.searchParams.set('digest', layer.digest);
  const response = await client.call('PUT', url, { headers: { 'content-length': 0 }, expect: [201, 204, 400] });
  if (response.status === 400) {
    throw new RemoteError('RegistryBlobRejected', [client.registry, layer.digest, (await response.statusError()).detail]);
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
