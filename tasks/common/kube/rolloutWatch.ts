/**
 * `kubectl rollout status`, watch-based: one list, then a watch on the single Deployment, deciding
 * with the pure rolloutStatus on every event, so completion is seen the moment the controller writes
 * it. Watches end (server time-outs, cut connections, quiet streams client-node gives up on), so it
 * re-watches from the last resourceVersion, re-lists on 410 Gone, and backs off on transient errors;
 * timeoutMs bounds all of it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Watch } from '@kubernetes/client-node';
import { RemoteError, TaskError } from '../errors';
import type { Log } from '../log';
import { format } from '../messages';
import type { Cluster } from './cluster';
import { describeFailure, isTransientKube, refusal, statusOf } from './apiCall';
import { type DeploymentLike, type RolloutStatus, TIMED_OUT_REASON, revisionOf, rolloutStatus } from './rolloutStatus';

export interface RolloutWatchOptions {
  readonly namespace: string;
  readonly name: string;
  readonly timeoutMs: number;
  readonly log: Log;
  readonly onStatus?: (status: RolloutStatus) => void;
  /** Re-watch after this long without any event or bookmark. Default 25 s, before client-node's own 30 s give-up. */
  readonly idleRewatchMs?: number;
}

export type RolloutOutcome =
  | { readonly kind: 'complete'; readonly revision: number; readonly deployment: DeploymentLike; readonly elapsedMs: number }
  | { readonly kind: 'failed'; readonly reason: 'ProgressDeadlineExceeded' | 'Timeout'; readonly message: string; readonly revision: number; readonly deployment: DeploymentLike; readonly elapsedMs: number };

const DEFAULT_IDLE_REWATCH_MS = 25_000;
const MAX_BACKOFF_MS = 2_000;

/** Why one watch request stopped. */
type WatchEnd =
  | { readonly kind: 'decided'; readonly outcome: RolloutOutcome }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'ended'; readonly why: string }
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'deadline' };

interface WatchEvent {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

class RolloutWatcher {
  private readonly started = performance.now();
  private readonly deadline: number;
  private readonly idleMs: number;
  private readonly path: string;
  private readonly fieldSelector: string;
  private resourceVersion: string | undefined;
  private deployment: DeploymentLike | undefined;
  private lastMessage = '';
  private failures = 0;
  private lastError: unknown;

  constructor(private readonly cluster: Cluster, private readonly options: RolloutWatchOptions) {
    this.deadline = this.started + options.timeoutMs;
    this.idleMs = Math.max(1, options.idleRewatchMs ?? DEFAULT_IDLE_REWATCH_MS);
    this.path = `/apis/apps/v1/namespaces/${encodeURIComponent(options.namespace)}/deployments`;
    this.fieldSelector = `metadata.name=${options.name}`;
  }

  async run(): Promise<RolloutOutcome> {
    for (;;) {
      if (this.resourceVersion === undefined) {
        const outcome = await this.relist();
        if (outcome) return outcome;
      }
      const end = await this.watchOnce();
      switch (end.kind) {
        case 'decided': return end.outcome;
        case 'deadline': return this.timedOut();
        case 'deleted': throw new TaskError('RolloutDeploymentDeleted', [this.options.name, this.options.namespace]);
        case 'expired':
          // 410: the server's history no longer reaches our resourceVersion; only a fresh list helps.
          this.options.log.debug(`watch of deployment ${this.options.name}: resourceVersion ${this.resourceVersion} expired (410); listing again`);
          this.resourceVersion = undefined;
          // Expired again with no event since the last list: the history is churning; do not hammer it.
          if (this.failures > 0) await this.backOff();
          else this.failures = 1;
          break;
        case 'ended':
          this.options.log.debug(`watch of deployment ${this.options.name} ended (${end.why}); resuming from resourceVersion ${this.resourceVersion}`);
          if (end.why === 'closed early') await this.backOff();
          break;
        case 'failed':
          await this.recover(end.error, 'watch');
          break;
      }
    }
  }

  /** Milliseconds left, within what a Node timer accepts (larger values fire at once). */
  private remaining(): number {
    return Math.min(this.deadline - performance.now(), 2 ** 31 - 1);
  }

  /** Lists the one deployment: the list's resourceVersion, unlike the object's, is recent enough to watch from. */
  private async relist(): Promise<RolloutOutcome | undefined> {
    const { namespace, name } = this.options;
    for (;;) {
      if (this.remaining() <= 0) return this.timedOut();
      try {
        const list = await withDeadline(this.cluster.apps.listNamespacedDeployment({ namespace, fieldSelector: this.fieldSelector }), this.remaining());
        if (list === undefined) return this.timedOut();
        const found = list.items.find((item) => item.metadata?.name === name) as DeploymentLike | undefined;
        if (!found) throw new TaskError(this.deployment ? 'RolloutDeploymentDeleted' : 'RolloutDeploymentNotFound', [name, namespace]);
        this.resourceVersion = list.metadata?.resourceVersion ?? (found.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
        return this.observe(found);
      } catch (error) {
        if (error instanceof TaskError) throw error;
        await this.recover(error, 'list');
      }
    }
  }

  /** Fatal errors throw; transient ones wait a growing, jittered moment (never past the deadline). */
  private async recover(error: unknown, verb: 'list' | 'watch'): Promise<void> {
    const { namespace, name } = this.options;
    if (statusOf(error) === 404 && verb === 'list') throw new TaskError('RolloutDeploymentNotFound', [name, namespace]);
    // 401, 403 and other refusals will not heal by waiting: the credentials, role or request must change.
    if (!isTransientKube(error)) throw refusal(this.cluster, `${verb} deployment '${name}'`, error, { log: this.options.log, namespace });
    this.lastError = error;
    const delay = this.nextDelay();
    this.options.log.info('RolloutRewatching', name, describeFailure(error), Math.round(delay));
    await sleep(delay);
  }

  private nextDelay(): number {
    this.failures += 1;
    const base = Math.min(MAX_BACKOFF_MS, 100 * 2 ** (this.failures - 1));
    return Math.max(0, Math.min(base * (0.5 + Math.random() / 2), this.remaining()));
  }

  private async backOff(): Promise<void> {
    await sleep(this.nextDelay());
  }

  private watchOnce(): Promise<WatchEnd> {
    if (this.remaining() <= 0) return Promise.resolve({ kind: 'deadline' });
    return new Promise<WatchEnd>((resolve) => {
      const opened = performance.now();
      let controller: AbortController | undefined;
      let settled = false;
      let events = 0;
      const finish = (end: WatchEnd) => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        clearTimeout(deadline);
        controller?.abort();
        resolve(end);
      };
      const idle = setTimeout(() => finish({ kind: 'ended', why: `no events for ${this.idleMs} ms` }), this.idleMs);
      const deadline = setTimeout(() => finish({ kind: 'deadline' }), this.remaining());
      const onEvent = (type: string, object: WatchEvent) => {
        if (settled) return;
        events += 1;
        idle.refresh();
        const end = this.onEvent(type, object);
        if (end) finish(end);
      };
      // A stream the server closes at once, without a single event, must not become a busy loop.
      const onDone = (error: unknown) => {
        if (error) return finish(statusOf(error) === 410 ? { kind: 'expired' } : { kind: 'failed', error });
        finish({ kind: 'ended', why: events === 0 && performance.now() - opened < 1000 ? 'closed early' : 'closed by the server' });
      };
      const query = { fieldSelector: this.fieldSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: true };
      new Watch(this.cluster.config).watch(this.path, query, onEvent, onDone).then((c) => {
        controller = c;
        if (settled) c.abort();
      }, (error: unknown) => finish({ kind: 'failed', error }));
    });
  }

  private onEvent(type: string, object: WatchEvent): WatchEnd | undefined {
    if (type === 'ERROR') {
      if (object.code === 410) return { kind: 'expired' };
      return { kind: 'failed', error: Object.assign(new Error(object.message ?? object.reason ?? 'watch error'), { statusCode: object.code }) };
    }
    this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion;
    this.failures = 0;
    if (type === 'BOOKMARK') return undefined;
    if (type === 'DELETED') return { kind: 'deleted' };
    const outcome = this.observe(object as DeploymentLike);
    return outcome ? { kind: 'decided', outcome } : undefined;
  }

  /** kubectl's decision on this version of the deployment; reports the status when its words change. */
  private observe(deployment: DeploymentLike): RolloutOutcome | undefined {
    this.deployment = deployment;
    const status = rolloutStatus(deployment);
    const { log, name, namespace } = this.options;
    const changed = status.message !== this.lastMessage;
    this.lastMessage = status.message;
    if (changed) this.options.onStatus?.(status);
    const revision = revisionOf(deployment) ?? 0;
    const elapsedMs = performance.now() - this.started;
    if (status.done) {
      log.info('RolloutComplete', name, namespace, revision, (elapsedMs / 1000).toFixed(1));
      return { kind: 'complete', revision, deployment, elapsedMs };
    }
    if (changed) log.info('RolloutStatus', name, status.message);
    if (!status.failed) return undefined;
    const progressing = deployment.status?.conditions?.find((c) => c.type === 'Progressing' && c.reason === TIMED_OUT_REASON);
    const seconds = (deployment.spec as { progressDeadlineSeconds?: number } | undefined)?.progressDeadlineSeconds ?? 0;
    const message = format('RolloutDeadlineExceeded', revision, seconds, trimPeriod(progressing?.message ?? status.message));
    return { kind: 'failed', reason: 'ProgressDeadlineExceeded', message, revision, deployment, elapsedMs };
  }

  private timedOut(): RolloutOutcome {
    const { name, namespace, timeoutMs } = this.options;
    const elapsedMs = performance.now() - this.started;
    if (!this.deployment) {
      const why = this.lastError ? describeFailure(this.lastError) : `no answer within ${Math.round(timeoutMs / 1000)} s`;
      throw new RemoteError('RolloutWatchFailed', ['list', name, namespace, why], { cause: this.lastError });
    }
    const revision = revisionOf(this.deployment) ?? 0;
    const message = format('RolloutTimedOut', revision, Math.round(timeoutMs / 100) / 10, this.lastMessage);
    this.options.log.debug(`rollout of deployment ${name} timed out after ${Math.round(elapsedMs)} ms`);
    return { kind: 'failed', reason: 'Timeout', message, revision, deployment: this.deployment, elapsedMs };
  }
}

function trimPeriod(text: string): string {
  return text.replace(/\.\s*$/, '');
}

/** The promise's value, or undefined when `ms` pass first (the request is left to finish on its own). */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until the deployment's rollout completes, fails its progress deadline, or timeoutMs passes. */
export async function watchRollout(cluster: Cluster, options: RolloutWatchOptions): Promise<RolloutOutcome> {
  return new RolloutWatcher(cluster, options).run();
}
