/**
 * Chunked blob upload (POST, PATCH..., PUT ?digest=) that survives cut connections: after a failed
 * PATCH it asks the registry how much it kept and resumes from there, and when the registry has
 * forgotten the session it starts the blob again. The whole blob shares one retry budget of the
 * task's policy. A blob streamed from another registry is hashed on its way through and never
 * committed when it does not match its digest; it resumes only where the accepted bytes end. A
 * new model layer is hashed in the same read that uploads it (uploadHashing): its digest comes
 * from the bytes the registry accepted, and after a cut the hash catches up to the registry's Range.
 * A compressed one is sent until its stream ends, and its diffId is hashed in that read too.
 * An upload that fails for good cancels its session, so the registry does not keep the bytes.
 */
import type { Readable } from 'node:stream';
import { RemoteError } from '../../errors';
import { HttpStatusError } from '../../net/errors';
import type { Layer } from '../layer';
import { sliceOf } from './blobSlice';
import { sizedChunks, type Chunk, type ChunkSource, type SizedBlob } from './chunkSource';
import { checkDigest, type RegistryClient } from './client';
import { CommittedDigest } from './committedDigest';
import { StreamedChunks, type StreamedBlob } from './streamedChunks';

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
  readonly source: ChunkSource;
  readonly chunkSize: number;
  /** Where the bytes come from, for a message when they end early. */
  readonly origin: string;
  readonly count: (piece: Buffer) => void;
}

async function sendChunk(context: ChunkContext, position: Position, chunk: Chunk): Promise<Position> {
  const { client, source } = context;
  const end = position.offset + chunk.length;
  // The network layer reports a failing body as a failed request; the body's own error says more.
  let bodyFailure: unknown;
  let lastBody: Readable | undefined;
  const body = (): Readable => {
    const hash = chunk.hashing?.();
    const onPiece = (piece: Buffer) => {
      context.count(piece);
      hash?.(piece);
    };
    const slice = sliceOf(chunk.open(), { count: chunk.length, digest: source.name, from: context.origin, onPiece });
    slice.once('error', (error) => (bodyFailure = error));
    lastBody = slice;
    return slice;
  };
  try {
    const response = await client.call('PATCH', position.session, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${position.offset}-${end - 1}`, 'content-length': chunk.length },
      body,
      expect: [202],
      retry: false,
    });
    await response.discard();
    source.accepted(end);
    return { session: client.locationOf(response), offset: end };
  } catch (error) {
    lastBody?.destroy();
    throw bodyFailure ?? error;
  }
}

/** Where the next attempt starts: after a failure, where the registry stands, if the blob's hash can follow. */
async function nextPosition(context: ChunkContext, repository: string, position: Position, failure: unknown): Promise<Position> {
  const { client, source } = context;
  const next = failure === undefined ? position : await resumePosition(client, repository, position, failure, context.chunkSize);
  const resumed = await source.resumeAt(next.offset);
  if (!resumed) source.restart();
  const at = resumed ? next.offset : 0;
  const held = next.offset === 0 ? `none of ${source.name}` : `${next.offset} bytes of ${source.name}, but not where its hash stands`;
  if (failure !== undefined) client.options.log.debug(at > 0 ? `the registry holds ${at} bytes of ${source.name}: the upload goes on from there` : `the registry holds ${held}: the upload starts again from its first byte`);
  return resumed || next.offset === 0 ? { ...next, offset: at } : { session: await client.startUpload(repository), offset: 0 };
}

/** Uploads a blob and returns the bytes sent (including any resent after a failure). */
export async function uploadBlob(client: RegistryClient, repository: string, layer: Layer, options: UploadOptions): Promise<number> {
  const from = layer.source;
  const origin = from ? `${from.registry}/${from.repository}` : 'the model files';
  const verified = from ? new CommittedDigest(layer, origin) : undefined;
  client.options.log.debug(`uploading ${layer.digest} (${layer.size} bytes) to ${client.registry}/${repository}${verified ? `, checked against its digest on the way from ${origin}` : ''}`);
  const { sent, session } = await sendAll(client, repository, { source: sizedChunks(layer, verified, false), origin }, options);
  await cancelledOnFailure(client, session, async () => {
    verified?.check();
    await finish(client, session, layer.digest);
  });
  return sent;
}

/** A new layer of our own: an uncompressed tar of known size (its bodies shown to `sent`), or a compressed one (streamedChunks.ts). */
export type NewBlob = (Pick<Layer, 'size' | 'open'> & Pick<SizedBlob, 'sent'>) | StreamedBlob;

/** What a new layer's upload learnt: its digest and size, its diffId, and the bytes sent. */
export interface NewBlobUpload {
  readonly digest: string;
  /** The digest of the uncompressed tar: the blob's own digest unless it is compressed. */
  readonly diffId: string;
  readonly size: number;
  readonly sent: number;
}

/**
 * Uploads a blob of our own whose digest is not known yet, hashing it in the same read that sends
 * it, and commits it under that digest. A compressed blob is sent until its stream ends, and the
 * tar it is made from is hashed in that read too.
 */
export async function uploadHashing(client: RegistryClient, repository: string, blob: NewBlob, options: UploadOptions): Promise<NewBlobUpload> {
  const name = 'a new model layer';
  const { source, learnt, what } = hashedChunks(blob, name);
  client.options.log.debug(`uploading ${name} ${what} to ${client.registry}/${repository}, hashed on the way`);
  const { sent, session } = await sendAll(client, repository, { source, origin: 'the model files' }, options);
  const digests = learnt();
  await cancelledOnFailure(client, session, () => finish(client, session, digests.digest));
  return { ...digests, sent };
}

/** A new blob's chunks, and what its upload has learnt once the registry holds them all. */
function hashedChunks(blob: NewBlob, name: string): { source: ChunkSource; learnt: () => Omit<NewBlobUpload, 'sent'>; what: string } {
  if (!('size' in blob)) {
    const streamed = new StreamedChunks(blob, name);
    return { source: streamed, learnt: () => streamed.digests(), what: 'as it is compressed (the tar it compresses hashed too)' };
  }
  const hashing = new CommittedDigest({ digest: 'sha256:' }, 'the model files');
  const learnt = () => ({ digest: hashing.digest(), diffId: hashing.digest(), size: blob.size });
  return { source: sizedChunks({ ...blob, digest: name }, hashing, true), learnt, what: `(${blob.size} bytes)` };
}

/** Sends every chunk under one retry budget; returns the session to commit and the bytes sent. */
async function sendAll(client: RegistryClient, repository: string, blob: Pick<ChunkContext, 'source' | 'origin'>, options: UploadOptions): Promise<{ sent: number; session: URL }> {
  let sent = 0;
  const count = (piece: Buffer) => {
    sent += piece.length;
    options.onBytes(piece.length);
  };
  const context: ChunkContext = { client, chunkSize: options.chunkSize, count, ...blob };
  let position: Position = { session: options.session ?? (await client.startUpload(repository)), offset: 0 };
  let failure: unknown;
  await cancelledOnFailure(client, () => position.session, () =>
    client.retrying(`upload of ${blob.source.name}`, async () => {
      try {
        position = await nextPosition(context, repository, position, failure);
        let chunk: Chunk | undefined;
        while ((chunk = await blob.source.chunk(position.offset, options.chunkSize))) position = await sendChunk(context, position, chunk);
      } catch (error) {
        failure = error;
        throw error;
      }
    }, (error) => (error instanceof HttpStatusError && error.status === 416 ? 'retry' : undefined)),
  );
  return { sent, session: position.session };
}

/** Runs a step of an upload; when it fails for good, the session it leaves behind is cancelled. */
async function cancelledOnFailure<T>(client: RegistryClient, session: URL | (() => URL), step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    await client.cancelUpload(typeof session === 'function' ? session() : session);
    throw error;
  }
}

async function finish(client: RegistryClient, session: URL, digest: string): Promise<void> {
  const url = new URL(session);
  url.searchParams.set('digest', digest);
  const response = await client.call('PUT', url, { headers: { 'content-length': 0 }, expect: [201, 204, 400] });
  if (response.status === 400) {
    throw new RemoteError('RegistryBlobRejected', [client.registry, digest, (await response.statusError()).detail]);
  }
  await response.discard();
  checkDigest(client.registry, response, digest);
}

/** Small blobs (configs) in one monolithic PUT. */
export async function uploadSmallBlob(client: RegistryClient, repository: string, blob: { bytes: Buffer; digest: string }): Promise<void> {
  const session = await client.startUpload(repository);
  const commit = new URL(session);
  commit.searchParams.set('digest', blob.digest);
  await cancelledOnFailure(client, session, async () => {
    const response = await client.call('PUT', commit, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': blob.bytes.length },
      body: () => blob.bytes,
      expect: [201, 204],
    });
    await response.discard();
    checkDigest(client.registry, response, blob.digest);
  });
}
