/**
 * Downloads a pipeline artifact as one zip (Artifacts - Get Artifact's resource.downloadUrl, which
 * carries format=zip) to a file, through the network layer. A dropped connection resumes with a
 * Range request when the service honours it, and restarts otherwise, under the one retry policy.
 * The token goes only where it belongs: see tokenOrigins.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { RemoteError, TaskError } from '../errors';
import type { Log, Progress } from '../log';
import type { NetResponse } from '../net/body';
import { CredentialScopeError, NetworkError, StoppedError } from '../net/errors';
import type { Network } from '../net/network';
import { MAX_REDIRECTS, redirectHop } from '../net/origin';
import { type RetryPolicy, retry } from '../net/retry';
import { withoutQuery } from '../redact';
import { unauthorizedError, type DevOpsCredential } from './credential';
import { authorizationOf } from './http';

export interface ZipDownload {
  /** The download URL the collection named for this artifact. */
  readonly url: string;
  readonly target: string;
  readonly collectionUri: string;
  readonly credential: DevOpsCredential;
  readonly retry: RetryPolicy;
  /** For progress when the response has no Content-Length. */
  readonly expectedSize?: number;
}

export interface DownloadContext {
  readonly network: Network;
  readonly signal: AbortSignal;
  readonly log: Log;
  readonly progress: Progress;
}

/**
 * The origins the job's token or a PAT may be sent to: the collection's own, and the artifact
 * host the collection itself named in downloadUrl (Azure DevOps serves pipeline artifacts from
 * artprod*.artifacts.visualstudio.com), over https, or over plain http only when the collection
 * itself is plain http (an on-premises server). A host met on a redirect is never one of them.
 */
export function tokenOrigins(collectionUri: string, downloadUrl: string): ReadonlySet<string> {
  const collection = new URL(collectionUri);
  const download = new URL(downloadUrl);
  const origins = new Set([collection.origin]);
  if (download.protocol === 'https:' || collection.protocol === 'http:') origins.add(download.origin);
  return origins;
}

interface State {
  written: number;
  total: number;
  attempts: number;
}

export async function downloadArtifactZip(download: ZipDownload, context: DownloadContext): Promise<number> {
  const file = await open(download.target, 'w');
  const state: State = { written: 0, total: download.expectedSize ?? 0, attempts: 0 };
  const shown = withoutQuery(download.url);
  try {
    await retry(async () => {
      state.attempts += 1;
      const response = await request(download, context, state.written);
      await receive(response, file, state, context);
    }, download.retry, { signal: context.signal, onRetry: ({ attempt, attempts }) => context.log.info('DownloadResuming', shown, attempt, attempts - 1) });
    return state.written;
  } catch (error) {
    // A refusal, a cancel or a credential kept from a hop speak for themselves; the rest ran out of attempts.
    if (error instanceof TaskError || error instanceof StoppedError || error instanceof CredentialScopeError) throw error;
    throw new RemoteError('PipelineArtifactDownloadFailed', [shown, state.attempts, (error as Error)?.message ?? String(error)], { cause: error });
  } finally {
    context.progress.finish();
    await file.close();
  }
}

/** GETs the zip from `offset`; each redirect hop keeps the credential only on the same origin (never https -> http). */
async function request(download: ZipDownload, context: DownloadContext, offset: number): Promise<NetResponse> {
  let url = new URL(download.url);
  let credentialed = tokenOrigins(download.collectionUri, download.url).has(url.origin);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    if (credentialed) headers.authorization = authorizationOf(download.credential);
    const response = await context.network.send({ method: 'GET', url, headers, signal: context.signal });
    const location = response.header('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.discard();
      const next = redirectHop(url, location);
      credentialed &&= next.keepCredentials;
      url = next.url;
      continue;
    }
    if (response.status === 200 || response.status === 206) return response;
    throw await statusError(response, download);
  }
  throw new RemoteError('PipelineArtifactDownloadFailed', [withoutQuery(download.url), 1, 'too many redirects']);
}

/** 401/403 and 404 are final and explained; other statuses are typed for the retry policy to judge. */
async function statusError(response: NetResponse, { url, credential }: ZipDownload): Promise<Error> {
  if (response.status === 401 || response.status === 403) {
    await response.discard();
    return unauthorizedError(credential, 'artifact download', withoutQuery(url));
  }
  if (response.status === 404) {
    await response.discard();
    return new TaskError('PipelineArtifactGone', [withoutQuery(url)]);
  }
  return response.statusError();
}

/** Where a 206 says its bytes start; undefined when it does not say it readably. */
function rangeStart(response: NetResponse): number | undefined {
  const start = /^bytes (\d+)-/.exec(response.header('content-range') ?? '')?.[1];
  return start === undefined ? undefined : Number(start);
}

/** A body cut by the socket ends with Node's own error: typed here so the retry policy can judge it. */
function typedBodyFailure(error: unknown, peer: string): unknown {
  if (error instanceof NetworkError || error instanceof StoppedError || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code ?? 'ECONNRESET';
  return new NetworkError(peer, code, `the zip from ${peer} was cut off: ${error.message}`);
}

async function receive(response: NetResponse, file: FileHandle, state: State, context: DownloadContext): Promise<void> {
  const resumedAt = response.status === 206 ? rangeStart(response) : 0;
  if (resumedAt !== state.written) {
    // The service sent the whole zip again, or a range we did not ask for: start over.
    await file.truncate(0);
    state.written = 0;
    if (resumedAt !== 0) {
      response.body.destroy();
      throw new NetworkError(response.url.host, 'ECONNRESET', `${response.url.host} answered a range other than the one asked for; starting over`);
    }
  }
  const length = Number(response.header('content-length'));
  if (Number.isFinite(length) && length > 0) state.total = state.written + length;
  if (state.written === 0) context.progress.start('Downloading the pipeline artifact', state.total);
  const chunks = (response.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    // Only the socket's failures are typed as network failures; the disk's (ENOSPC) stay as they are.
    const next = await chunks.next().catch((error: unknown) => Promise.reject(typedBodyFailure(error, response.url.host)));
    if (next.done) break;
    await file.write(next.value, 0, next.value.length, state.written);
    state.written += next.value.length;
    context.progress.advance(next.value.length);
  }
  if (Number.isFinite(length) && state.written !== (resumedAt ?? 0) + length) {
    throw new NetworkError(response.url.host, 'ECONNRESET', `the zip from ${response.url.host} ended early at ${state.written} bytes`);
  }
}
