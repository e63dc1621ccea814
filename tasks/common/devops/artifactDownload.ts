/**
 * Downloads a pipeline artifact as one zip (Artifacts - Get Artifact's resource.downloadUrl, which
 * carries format=zip) to a file, through azure-devops-node-api's HTTP client. A dropped
 * connection resumes with a Range request when the service honours it, and restarts otherwise.
 */
import type { IncomingMessage } from 'node:http';
import { open, type FileHandle } from 'node:fs/promises';
import { BuildApi } from 'azure-devops-node-api/BuildApi';
import { RemoteError, TaskError, isTransient } from '../errors';
import { unauthorizedError, type DevOpsCredential } from './credential';
import type { Log, Progress } from '../log';
import { withoutQuery } from '../redact';

export interface ZipDownload {
  readonly url: string;
  readonly target: string;
  readonly collectionUri: string;
  /** For a refusal's message only: the authenticated client already carries it. */
  readonly credential: DevOpsCredential;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly idleTimeoutMs: number;
  /** For progress when the response has no Content-Length. */
  readonly expectedSize?: number;
}

export interface DownloadContext {
  readonly signal: AbortSignal;
  readonly log: Log;
  readonly progress: Progress;
}

const MAX_REDIRECTS = 5;

/** Hosts that may see the token (the job's or a PAT): the collection's own, and Azure DevOps' artifact hosts. */
export function mayReceiveToken(url: URL, collectionUri: string): boolean {
  const collection = new URL(collectionUri);
  if (url.hostname === collection.hostname) return url.protocol === collection.protocol || url.protocol === 'https:';
  return url.protocol === 'https:' && /(^|\.)(visualstudio\.com|dev\.azure\.com)$/i.test(url.hostname);
}

export async function downloadArtifactZip(authed: BuildApi, download: ZipDownload, context: DownloadContext): Promise<number> {
  const anonymous = new BuildApi(download.collectionUri, [], { socketTimeout: 60_000, allowRedirects: false });
  const file = await open(download.target, 'w');
  const state = { written: 0, total: download.expectedSize ?? 0 };
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await request(authed, anonymous, download, state.written);
        await receive(response, file, state, download, context);
        return state.written;
      } catch (error) {
        if (context.signal.aborted || !isTransient(error)) throw error;
        if (attempt >= download.retries) throw new RemoteError('PipelineArtifactDownloadFailed', [withoutQuery(download.url), attempt + 1, (error as Error).message]);
        context.log.info('DownloadResuming', withoutQuery(download.url), attempt + 1, download.retries);
        await new Promise((resolve) => setTimeout(resolve, Math.min(download.retryDelayMs * 2 ** attempt, 30_000)));
      }
    }
  } finally {
    context.progress.finish();
    await file.close();
  }
}

/** GETs the zip from `offset`, following redirects without the token to hosts that may not see it. */
async function request(authed: BuildApi, anonymous: BuildApi, download: ZipDownload, offset: number): Promise<IncomingMessage> {
  let url = new URL(download.url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const client = mayReceiveToken(url, download.collectionUri) ? authed : anonymous;
    const response = (await client.http.get(url.href, offset > 0 ? { Range: `bytes=${offset}-` } : {})).message;
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      url = new URL(response.headers.location, url);
      continue;
    }
    if (status === 200 || status === 206) return response;
    response.resume();
    throw statusError(status, download);
  }
  throw new RemoteError('PipelineArtifactDownloadFailed', [withoutQuery(download.url), 1, 'too many redirects']);
}

function statusError(status: number, { url, credential }: ZipDownload): Error {
  if (status === 401 || status === 403) return unauthorizedError(credential, 'artifact download', withoutQuery(url));
  if (status === 404) return new TaskError('PipelineArtifactGone', [withoutQuery(url)]);
  // Left untyped so isTransient sees the status: 408, 429 and 5xx are retried.
  return Object.assign(new Error(`HTTP ${status} from ${withoutQuery(url)}`), { statusCode: status });
}

async function receive(response: IncomingMessage, file: FileHandle, state: { written: number; total: number }, download: ZipDownload, context: DownloadContext): Promise<void> {
  const resumedAt = response.statusCode === 206 ? Number(/^bytes (\d+)-/.exec(String(response.headers['content-range']))?.[1]) : 0;
  if (resumedAt !== state.written) {
    // The service sent the whole zip again (or another range): start over.
    await file.truncate(0);
    state.written = 0;
  }
  const length = Number(response.headers['content-length']);
  if (Number.isFinite(length) && length > 0) state.total = state.written + length;
  if (state.written === 0) context.progress.start('Downloading the pipeline artifact', state.total);
  const abort = () => response.destroy(Object.assign(new Error('aborted'), { code: 'ECONNABORTED' }));
  context.signal.addEventListener('abort', abort, { once: true });
  const idle = setTimeout(() => response.destroy(Object.assign(new Error(`no data for ${download.idleTimeoutMs} ms`), { code: 'ETIMEDOUT' })), download.idleTimeoutMs);
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      idle.refresh();
      await file.write(chunk, 0, chunk.length, state.written);
      state.written += chunk.length;
      context.progress.advance(chunk.length);
    }
  } finally {
    clearTimeout(idle);
    context.signal.removeEventListener('abort', abort);
  }
  if (context.signal.aborted) throw context.signal.reason;
  if (Number.isFinite(length) && state.written !== resumedAt + length) {
    throw Object.assign(new Error(`the zip ended early at ${state.written} bytes`), { code: 'ECONNRESET' });
  }
}
