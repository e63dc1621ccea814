/**
 * A Kubernetes watch over the network layer: one GET with watch=true whose body is a stream of JSON
 * events, one per line. Each line is bounded (a peer cannot make us hold an endless line), and a
 * stream that stays quiet for `idleMs` is ended by us, so the caller can re-watch from its last
 * resourceVersion before a proxy or load balancer drops the idle connection. (client-node's own
 * Watch uses node-fetch, which bypasses the agent's proxy, the deadlines and the task's cancel.)
 */
import { streamErrorOf } from '../net/body';
import { BODY_LIMITS, type NetResponse } from '../net/body';
import { BodyTooLargeError, NetworkError, stoppedBy } from '../net/errors';
import { type KubeStatusError, kubeStatusError } from './apiCall';
import type { Cluster } from './cluster';
import { serverHost } from './kubeconfig';

/** The longest event line held in memory: an object is at most 1.5 MiB in etcd. */
export const MAX_WATCH_LINE_BYTES = 4 * 1024 * 1024;

export interface WatchOptions {
  /** e.g. /apis/apps/v1/namespaces/prod/deployments */
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** End the watch after this long without a line (an event or a bookmark). */
  readonly idleMs: number;
  /** Each event; returning true ends the watch. */
  readonly onEvent: (type: string, object: unknown) => boolean;
}

/** Why a watch ended without an error: the handler was done, the server closed it, or it went quiet. */
export type WatchStop = 'done' | 'closed' | 'idle';

/** The error for an answer that is not 200: its metav1.Status, bounded. */
async function statusError(response: NetResponse, peer: string): Promise<KubeStatusError> {
  const body = await response.text(BODY_LIMITS.json, 'an error answer to a watch').catch(() => '');
  return kubeStatusError(peer, response.status, body, response.header('retry-after'));
}

/** Opens the watch and reads it; rejects with typed errors (KubeStatusError, NetworkError, BodyTooLargeError, StoppedError). */
export async function watch(cluster: Cluster, options: WatchOptions): Promise<WatchStop> {
  const peer = serverHost(cluster.server);
  const response = await cluster.open(options.path, { ...options.query, watch: 'true' });
  if (response.status !== 200) throw await statusError(response, peer);
  return readEvents(response, peer, options, cluster.signal);
}

/** Chunks in, complete lines out; a line longer than the limit is refused before it is held. */
class LineReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly peer: string) {}

  lines(chunk: Buffer): Buffer[] {
    const complete: Buffer[] = [];
    let start = 0;
    for (let end = chunk.indexOf(10); end >= 0; end = chunk.indexOf(10, start)) {
      complete.push(Buffer.concat([...this.pending, chunk.subarray(start, end)]));
      this.pending = [];
      this.pendingBytes = 0;
      start = end + 1;
    }
    this.pendingBytes += chunk.length - start;
    if (this.pendingBytes > MAX_WATCH_LINE_BYTES) throw new BodyTooLargeError(this.peer, MAX_WATCH_LINE_BYTES, 'a watch event');
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
    return complete;
  }
}

/** One event line to the handler; true when the handler is done. Blank lines (keep-alives) are skipped. */
function deliver(line: Buffer, peer: string, onEvent: WatchOptions['onEvent']): boolean {
  const text = line.toString('utf8').trim();
  if (!text) return false;
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(text) as typeof event;
  } catch {
    throw new NetworkError(peer, 'EBADJSON', `a watch event from ${peer} is not JSON`);
  }
  return onEvent(typeof event?.type === 'string' ? event.type : '', event?.object);
}

function readEvents(response: NetResponse, peer: string, options: WatchOptions, signal: AbortSignal): Promise<WatchStop> {
  const body = response.body;
  const reader = new LineReader(peer);
  return new Promise<WatchStop>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: WatchStop | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      signal.removeEventListener('abort', onAbort);
      body.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const idle = setTimeout(() => finish('idle'), options.idleMs);
    const onAbort = () => finish(stoppedBy(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    body.on('data', (chunk: Buffer) => {
      try {
        for (const line of reader.lines(chunk)) {
          idle.refresh();
          if (settled || deliver(line, peer, options.onEvent)) return finish('done');
        }
      } catch (error) {
        finish(error as Error);
      }
    });
    body.once('end', () => finish('closed'));
    body.once('error', (error) => finish(streamErrorOf(error, peer) as Error));
    body.once('close', () => finish('closed'));
  });
}
