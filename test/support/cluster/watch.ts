/**
 * Watch: a chunked response with one JSON event per line, headers flushed at once so clients know the
 * watch is established. Starts with synthetic ADDED events (no resourceVersion, or "0"), or replays
 * history after a resourceVersion (ERROR 410 Expired when the history no longer reaches back, as the
 * watch cache answers), then streams live changes; bookmarks and timeoutSeconds as the real server.
 */
import type * as http from 'node:http';
import { errors } from './errors';
import { type ResourceType, apiVersionOf } from './resources';
import { type Matcher } from './selectors';
import type { EventType, Store, StoreEvent } from './store';
import type { Timers } from './timers';
import type { KubeObject } from './types';

export interface WatchRequest {
  readonly resource: ResourceType;
  readonly namespace?: string;
  readonly matcher: Matcher;
  readonly params: URLSearchParams;
  /** How objects are sent, e.g. as one-row Tables for `kubectl get --watch`. */
  readonly present?: (object: KubeObject) => unknown;
}

export interface WatchSettings {
  readonly store: Store;
  readonly timers: Timers;
  readonly bookmarkIntervalMs: number;
}

function visible(request: WatchRequest, object: KubeObject | undefined): boolean {
  if (!object) return false;
  if (request.namespace && request.resource.namespaced && object.metadata.namespace !== request.namespace) return false;
  return request.matcher(object);
}

/** What a filtered watcher sees of a change: objects moving in or out of its selection appear added or deleted. */
export function translate(request: WatchRequest, event: StoreEvent): { type: EventType; object: KubeObject } | undefined {
  if (event.resource !== request.resource) return undefined;
  const before = event.type !== 'ADDED' && visible(request, event.previous);
  const after = event.type !== 'DELETED' && visible(request, event.object);
  if (event.type === 'DELETED') return before ? { type: 'DELETED', object: event.object } : undefined;
  if (before && after) return { type: 'MODIFIED', object: event.object };
  if (after) return { type: 'ADDED', object: event.object };
  return before ? { type: 'DELETED', object: event.object } : undefined;
}

function bookmark(resource: ResourceType, revision: number, annotations?: Record<string, string>): { type: string; object: unknown } {
  return {
    type: 'BOOKMARK',
    object: { kind: resource.kind, apiVersion: apiVersionOf(resource), metadata: { resourceVersion: String(revision), ...(annotations ? { annotations } : {}) } },
  };
}

export function serveWatch(req: http.IncomingMessage, res: http.ServerResponse, request: WatchRequest, settings: WatchSettings): void {
  const { store, timers } = settings;
  const { params, resource } = request;
  const rv = params.get('resourceVersion') ?? '';
  const sendInitial = params.get('sendInitialEvents') === 'true';
  const bookmarks = params.get('allowWatchBookmarks') === 'true';
  if (rv !== '' && !/^\d+$/.test(rv)) throw errors.badRequest(`invalid resource version "${rv}"`);
  const initial = rv === '' || rv === '0' || sendInitial;
  const backlog = initial ? undefined : store.eventsSince(Number(rv));

  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
  res.flushHeaders();
  const present = request.present ?? ((o: KubeObject) => o);
  const send = (event: { type: string; object: unknown }) => {
    const object = event.type === 'BOOKMARK' || event.type === 'ERROR' ? event.object : present(event.object as KubeObject);
    if (!res.writableEnded) res.write(`${JSON.stringify({ type: event.type, object })}\n`);
  };
  if (!initial && !backlog) {
    const status = errors.gone(`too old resource version: ${rv} (${store.oldestResumable})`).toStatus();
    send({ type: 'ERROR', object: status });
    res.end();
    return;
  }
  if (initial) {
    for (const object of store.list(resource, request.namespace).filter((o) => visible(request, o))) send({ type: 'ADDED', object });
    if (sendInitial && bookmarks) send(bookmark(resource, store.resourceVersion, { 'k8s.io/initial-events-end': 'true' }));
  } else {
    for (const event of backlog ?? []) {
      const seen = translate(request, event);
      if (seen) send(seen);
    }
  }
  // Subscribed in the same tick as the backlog was read: no change can fall in between.
  const unsubscribe = store.subscribe((event) => {
    const seen = translate(request, event);
    if (seen) send(seen);
  });
  const stopBookmarks = bookmarks ? timers.every(settings.bookmarkIntervalMs, () => send(bookmark(resource, store.resourceVersion))) : () => undefined;
  const timeoutSeconds = Number(params.get('timeoutSeconds') ?? '0');
  const cancelTimeout = timeoutSeconds > 0
    ? timers.after(timeoutSeconds * 1000, () => {
      if (bookmarks) send(bookmark(resource, store.resourceVersion));
      res.end();
    })
    : () => undefined;
  const cleanup = () => {
    unsubscribe();
    stopBookmarks();
    cancelTimeout();
  };
  res.on('close', cleanup);
  req.on('close', cleanup);
}
