/**
 * Responses, and reading their bodies within limits. A body we hold in memory is bounded in size
 * (checked against Content-Length before a byte is read, then counted) and in time (a peer that
 * trickles a byte at a time cannot keep the read open).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { BodyTooLargeError, HttpStatusError, NetworkError, StoppedError } from './errors';
import { parseRetryAfter } from './retry';

const KiB = 1024;
const MiB = 1024 * KiB;

/** How much of a peer's body we hold in memory, by kind. Manifests as distribution limits them. */
export const BODY_LIMITS = Object.freeze({
  manifest: 4 * MiB,
  json: 1 * MiB,
  /** Error pages: only their first line is ever shown. */
  error: 64 * KiB,
});

/** Bodies up to this size are drained to keep the connection; bigger ones drop it. */
const DRAIN_LIMIT = 64 * KiB;

export interface NetResponse {
  readonly url: URL;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  header(name: string): string | undefined;
  /** The raw body, for streaming large content; every other read is bounded. */
  readonly body: Readable;
  bytes(limit: number, what: string): Promise<Buffer>;
  text(limit: number, what: string): Promise<string>;
  /** Parsed JSON; a body that is not JSON fails as a NetworkError naming the peer (code EBADJSON). */
  json<T>(limit: number, what: string): Promise<T>;
  /** Releases the body: small ones are drained (the connection is reused), large ones dropped. */
  discard(): Promise<void>;
  /** An HttpStatusError for this response, with the body's first line as detail. */
  statusError(): Promise<HttpStatusError>;
}

/** One line of a peer's text for a message: whitespace collapsed, cut to 300 characters. */
export function firstLineOf(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** A body that broke off mid-way (the connection cut: Node says 'aborted') as a typed, retryable NetworkError. */
export function streamErrorOf(error: unknown, peer: string): unknown {
  if (error instanceof NetworkError || error instanceof StoppedError || error instanceof BodyTooLargeError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  return new NetworkError(peer, typeof code === 'string' ? code : 'ECONNRESET', `the answer from ${peer} broke off: ${(error as Error)?.message ?? String(error)}`);
}

export async function readBounded(stream: Readable, options: { peer: string; limit: number; what: string; deadlineMs: number; declaredLength?: number }): Promise<Buffer> {
  const { peer, limit, what, deadlineMs, declaredLength } = options;
  if (declaredLength !== undefined && declaredLength > limit) {
    stream.destroy();
    throw new BodyTooLargeError(peer, limit, what);
  }
  const timer = setTimeout(() => stream.destroy(new NetworkError(peer, 'ETIMEDOUT', `${what} from ${peer} did not arrive within ${deadlineMs} ms`, 'body')), deadlineMs);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        stream.destroy();
        throw new BodyTooLargeError(peer, limit, what);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    throw streamErrorOf(error, peer);
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks, size);
}

export function responseOf(incoming: IncomingMessage, url: URL, peer: string, bodyDeadlineMs: number): NetResponse {
  const header = (name: string) => {
    const value = incoming.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const declared = Number(header('content-length'));
  const declaredLength = Number.isFinite(declared) && header('content-length') !== undefined ? declared : undefined;
  const bytes = (limit: number, what: string) => readBounded(incoming, { peer, limit, what, deadlineMs: bodyDeadlineMs, declaredLength });
  const response: NetResponse = {
    url,
    status: incoming.statusCode ?? 0,
    headers: incoming.headers,
    header,
    body: incoming,
    bytes,
    text: async (limit, what) => (await bytes(limit, what)).toString('utf8'),
    async json<T>(limit: number, what: string): Promise<T> {
      const text = (await bytes(limit, what)).toString('utf8');
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new NetworkError(peer, 'EBADJSON', `${what} from ${peer} is not JSON`);
      }
    },
    async discard() {
      if (incoming.readableEnded || incoming.destroyed) return;
      // A complete answer (a HEAD's, say) still holds its socket until it is read to its end.
      if (incoming.complete) {
        await new Promise((ended) => incoming.once('end', ended).once('close', ended).resume());
        return;
      }
      if (declaredLength !== undefined && declaredLength <= DRAIN_LIMIT) {
        await readBounded(incoming, { peer, limit: DRAIN_LIMIT, what: 'a response body', deadlineMs: bodyDeadlineMs }).catch(() => undefined);
      } else {
        incoming.destroy();
      }
    },
    async statusError() {
      const detail = await bytes(BODY_LIMITS.error, 'an error body').then((body) => firstLineOf(body.toString('utf8')), () => '');
      return new HttpStatusError(peer, response.status, detail, parseRetryAfter(header('retry-after')));
    },
  };
  return response;
}
