/**
 * `kubectl rollout status`, watch-based: one list, then a watch on the single Deployment, deciding
 * with the pure rolloutStatus on every event, so completion is seen the moment the controller writes
 * it. Watches end (server time-outs, cut connections, quiet streams we end ourselves), so it
 * re-watches from the last resourceVersion, re-lists on 410 Gone, and pauses (the one retry pause)
 * on transient errors. Everything runs under the cluster's signal and its own timeoutMs: when that
 * deadline passes the outcome is a Timeout, when the agent cancels the StoppedError goes through.
 */
import { RemoteError, TaskError } from '../errors';
import type { Log } from '../log';
import { format } from '../messages';
import { withDeadline } from '../lifetime';
import { retryVerdict, stoppedBy } from '../net/errors';
import { backoffDelay, pause, retryPolicy } from '../net/retry';
import type { Cluster } from './cluster';
import { type CallOptions, describeFailure, kubeCall, kubeStatusError, refusal, statusOf } from './apiCall';
import { type DeploymentLike, type RolloutStatus, TIMED_OUT_REASON, revisionOf, rolloutStatus } from './rolloutStatus';
import { serverHost } from './kubeconfig';
import { watch } from './watch';
import { type DaemonSetLike, daemonSetStatus, type StatefulSetLike, statefulSetStatus } from './workloads/rolloutRules';

export interface RolloutWatchOptions {
  /** Default Deployment; a StatefulSet or DaemonSet is judged by kubectl's rules for its kind, its revision being its generation. */
  readonly kind?: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  readonly namespace: string;
  readonly name: string;
  /** The most the watch may take; the cluster's own signal may end it sooner. */
  readonly timeoutMs: number;
  readonly log: Log;
  readonly onStatus?: (status: RolloutStatus) => void;
  /** Re-watch after this long without any event or bookmark. Default 25 s, before a proxy's usual 30 s idle limit. */
  readonly idleRewatchMs?: number;
  /** The deployment as the apply returned it: what a Timeout reports if the server never answers again. */
  readonly initial?: DeploymentLike;
  readonly retry?: CallOptions['retry'];
}

export type RolloutOutcome =
  | { readonly kind: 'complete'; readonly revision: number; readonly deployment: DeploymentLike; readonly elapsedMs: number }
  | { readonly kind: 'failed'; readonly reason: 'ProgressDeadlineExceeded' | 'Timeout'; readonly message: string; readonly revision: number; readonly deployment: DeploymentLike; readonly elapsedMs: number };

const DEFAULT_IDLE_REWATCH_MS = 25_000;
/** Pauses between failed watches: short, since a rollout's end is what we wait for. */
const WATCH_BACKOFF = retryPolicy({ baseDelayMs: 100, maxDelayMs: 2_000, maxRetryAfterMs: 10_000 });

/** Why one watch request stopped. */
type WatchEnd =
  | { readonly kind: 'decided'; readonly outcome: RolloutOutcome }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'ended'; readonly why: string }
  | { readonly kind: 'failed'; readonly error: unknown };

interface WatchEvent {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

class RolloutWatcher {
  private readonly started = performance.now();
  private readonly kind: WorkloadKind;
  private readonly cluster: Cluster;
  private readonly idleMs: number;
  private readonly path: string;
  private readonly fieldSelector: string;
  private resourceVersion: string | undefined;
  private deployment: DeploymentLike | undefined;
  private lastMessage = '';
  private failures = 0;
  private lastError: unknown;

  constructor(cluster: Cluster, private readonly options: RolloutWatchOptions) {
    this.kind = options.kind ?? 'Deployment';
    this.cluster = cluster.within(withDeadline(cluster.signal, options.timeoutMs, `the rollout of deployment '${options.name}'`));
    this.idleMs = Math.max(1, options.idleRewatchMs ?? DEFAULT_IDLE_REWATCH_MS);
    this.path = `/apis/apps/v1/namespaces/${encodeURIComponent(options.namespace)}/${this.kind.toLowerCase()}s`;
    this.fieldSelector = `metadata.name=${options.name}`;
    this.deployment = options.initial;
  }

  async run(): Promise<RolloutOutcome> {
    try {
      return await this.follow();
    } catch (error) {
      const signal = this.cluster.signal;
      if (!signal.aborted) throw error;
      const stopped = stoppedBy(signal);
      if (stopped.reason === 'cancelled') throw stopped;
      return this.timedOut();
    }
  }

  private async follow(): Promise<RolloutOutcome> {
    for (;;) {
      if (this.resourceVersion === undefined) {
        const outcome = await this.relist();
        if (outcome) return outcome;
      }
      const end = await this.watchOnce();
      switch (end.kind) {
        case 'decided': return end.outcome;
        case 'deleted': throw new TaskError('RolloutDeploymentDeleted', [this.kind, this.options.name, this.options.namespace]);
        case 'expired':
          // 410: the server's history no longer reaches our resourceVersion; only a fresh list helps.
          this.options.log.debug(`watch of deployment ${this.options.name}: resourceVersion ${this.resourceVersion} expired (410); listing again`);
          this.resourceVersion = undefined;
          // Expired again with no event since the last list: the history is churning; do not hammer it.
          if (this.failures > 0) await this.backOff(undefined);
          else this.failures = 1;
          break;
        case 'ended':
          this.options.log.debug(`watch of deployment ${this.options.name} ended (${end.why}); resuming from resourceVersion ${this.resourceVersion}`);
          if (end.why === 'closed early') await this.backOff(undefined);
          break;
        case 'failed':
          await this.recover(end.error);
          break;
      }
    }
  }

  /** Lists the one deployment: the list's resourceVersion, unlike the object's, is recent enough to watch from. */
  private async relist(): Promise<RolloutOutcome | undefined> {
    const { namespace, name, log } = this.options;
    const query = { namespace, fieldSelector: this.fieldSelector };
    const kind = this.kind;
    const list = await kubeCall(this.cluster, `list ${kind.toLowerCase()} '${name}'`, () => listWorkloads(this.cluster, kind, query), { log, namespace, retry: this.options.retry });
    const found = list.items.find((item) => item.metadata?.name === name) as DeploymentLike | undefined;
    if (!found) throw new TaskError(this.deployment && this.options.initial !== this.deployment ? 'RolloutDeploymentDeleted' : 'RolloutDeploymentNotFound', [kind, name, namespace]);
    this.resourceVersion = list.metadata?.resourceVersion ?? (found.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    return this.observe(found);
  }

  /** Refusals throw (401, 403 and the like will not heal by waiting); transient failures pause, then watch again. */
  private async recover(error: unknown): Promise<void> {
    const { namespace, name, log } = this.options;
    if (error instanceof TaskError) throw error;
    if (retryVerdict(error) === 'fail') throw refusal(this.cluster, `watch deployment '${name}'`, error, { namespace });
    this.lastError = error;
    const delay = backoffDelay(WATCH_BACKOFF, this.failures + 1, error);
    log.info('RolloutRewatching', this.kind.toLowerCase(), name, describeFailure(error), delay);
    await this.backOff(error, delay);
  }

  private async backOff(error: unknown, delay = backoffDelay(WATCH_BACKOFF, this.failures + 1, error)): Promise<void> {
    this.failures += 1;
    await pause(delay, this.cluster.signal);
  }

  private async watchOnce(): Promise<WatchEnd> {
    const opened = performance.now();
    let events = 0;
    let decided: WatchEnd | undefined;
    const query = { fieldSelector: this.fieldSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true' };
    try {
      const stop = await watch(this.cluster, {
        path: this.path, query, idleMs: this.idleMs,
        onEvent: (type, object) => {
          events += 1;
          decided = this.onEvent(type, object as WatchEvent);
          return decided !== undefined;
        },
      });
      if (decided) return decided;
      if (stop === 'idle') return { kind: 'ended', why: `no events for ${this.idleMs} ms` };
      // A stream the server closes at once, without a single event, must not become a busy loop.
      return { kind: 'ended', why: events === 0 && performance.now() - opened < 1000 ? 'closed early' : 'closed by the server' };
    } catch (error) {
      if (this.cluster.signal.aborted) throw error;
      return statusOf(error) === 410 ? { kind: 'expired' } : { kind: 'failed', error };
    }
  }

  private onEvent(type: string, object: WatchEvent): WatchEnd | undefined {
    if (type === 'ERROR') {
      if (object.code === 410) return { kind: 'expired' };
      return { kind: 'failed', error: kubeStatusError(serverHost(this.cluster.server), typeof object.code === 'number' ? object.code : 500, object) };
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
    const status = workloadStatus(deployment, this.kind);
    const { log, name, namespace } = this.options;
    const changed = status.message !== this.lastMessage;
    this.lastMessage = status.message;
    if (changed) this.options.onStatus?.(status);
    const revision = workloadRevision(deployment, this.kind);
    const elapsedMs = performance.now() - this.started;
    if (status.done) {
      log.info('RolloutComplete', this.kind, name, namespace, revision, (elapsedMs / 1000).toFixed(1));
      return { kind: 'complete', revision, deployment, elapsedMs };
    }
    if (changed) log.info('RolloutStatus', this.kind, name, status.message);
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
      throw new RemoteError('RolloutWatchFailed', ['list', this.kind.toLowerCase(), name, namespace, why], { cause: this.lastError });
    }
    const revision = workloadRevision(this.deployment, this.kind);
    // Seen only as the apply returned it: the server said nothing since, and that is the news.
    const last = this.deployment === this.options.initial ? format('RolloutServerSilent', serverHost(this.cluster.server)) : this.lastMessage;
    const message = format('RolloutTimedOut', revision, Math.round(timeoutMs / 100) / 10, last);
    this.options.log.debug(`rollout of deployment ${name} timed out after ${Math.round(elapsedMs)} ms`);
    return { kind: 'failed', reason: 'Timeout', message, revision, deployment: this.deployment, elapsedMs };
  }
}

/** kubectl's rules for the kind. */
export function workloadStatus(workload: DeploymentLike, kind: RolloutWatchOptions['kind']): RolloutStatus {
  if (kind === 'StatefulSet') return statefulSetStatus(workload as StatefulSetLike);
  if (kind === 'DaemonSet') return daemonSetStatus(workload as DaemonSetLike);
  return rolloutStatus(workload);
}

/** A Deployment's revision annotation; a StatefulSet's or DaemonSet's generation (their revisions are named, not numbered). */
export function workloadRevision(workload: DeploymentLike, kind: RolloutWatchOptions['kind']): number {
  return kind === 'StatefulSet' || kind === 'DaemonSet' ? workload.metadata?.generation ?? 0 : revisionOf(workload) ?? 0;
}

/** The workloads watched and rolled back (deploy.ts, privateCommand.ts). */
export type WorkloadKind = NonNullable<RolloutWatchOptions['kind']>;
type Listed = Promise<{ items: DeploymentLike[]; metadata?: { resourceVersion?: string } }>;

/** The one list call per kind (apps/v1). */
function listWorkloads(cluster: Cluster, kind: WorkloadKind, query: { namespace: string; fieldSelector: string }): Listed {
  if (kind === 'StatefulSet') return cluster.apps.listNamespacedStatefulSet(query) as unknown as Listed;
  if (kind === 'DaemonSet') return cluster.apps.listNamespacedDaemonSet(query) as unknown as Listed;
  return cluster.apps.listNamespacedDeployment(query) as unknown as Listed;
}

/** Reads one workload of the kind (apps/v1). */
export function readWorkload(cluster: Cluster, kind: WorkloadKind, name: string, namespace: string): Promise<DeploymentLike> {
  if (kind === 'StatefulSet') return cluster.apps.readNamespacedStatefulSet({ name, namespace }) as Promise<DeploymentLike>;
  if (kind === 'DaemonSet') return cluster.apps.readNamespacedDaemonSet({ name, namespace }) as Promise<DeploymentLike>;
  return cluster.apps.readNamespacedDeployment({ name, namespace }) as Promise<DeploymentLike>;
}

function trimPeriod(text: string): string {
  return text.replace(/\.\s*$/, '');
}

/** Waits until the deployment's rollout completes, fails its progress deadline, or timeoutMs passes. */
export async function watchRollout(cluster: Cluster, options: RolloutWatchOptions): Promise<RolloutOutcome> {
  return new RolloutWatcher(cluster, options).run();
}
