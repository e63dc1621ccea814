/**
 * Why a rollout failed, as one short block: the newest ReplicaSet of the deployment, its pods' phase,
 * readiness and container states (ImagePullBackOff, CrashLoopBackOff, exit codes, restarts), and the
 * Warning events of those objects — what `kubectl describe` would show, deduplicated and capped.
 * Only names, reasons and messages from status and events: never env values or other spec content.
 * The block is a TextBlock: its lines stay lines, and each is neutralized by the output boundary
 * like any peer text (pod names and event messages are the cluster's words).
 */
import { type Log, TextBlock } from '../log';
import { StoppedError } from '../net/errors';
import { format } from '../messages';
import { type CallOptions, describeFailure, kubeCall } from './apiCall';
import type { Cluster } from './cluster';
import { type DeploymentLike, type ReplicaSetLike, revisionOf } from './rolloutStatus';
import { type LabelSelector, type Named, controlledBy, labelSelectorQuery, listOwnedReplicaSets } from './ownership';

export interface ContainerStatusLike {
  readonly name?: string;
  readonly image?: string;
  readonly ready?: boolean;
  readonly restartCount?: number;
  readonly state?: ContainerStateLike;
  readonly lastState?: ContainerStateLike;
}

interface ContainerStateLike {
  readonly waiting?: { readonly reason?: string; readonly message?: string };
  readonly running?: unknown;
  readonly terminated?: { readonly exitCode?: number; readonly reason?: string; readonly message?: string };
}

export interface PodLike extends Named {
  readonly spec?: { readonly containers?: readonly { readonly name?: string; readonly image?: string }[] };
  readonly status?: {
    readonly phase?: string;
    readonly reason?: string;
    readonly message?: string;
    readonly containerStatuses?: readonly ContainerStatusLike[];
    readonly initContainerStatuses?: readonly ContainerStatusLike[];
  };
}

export interface EventLike {
  readonly type?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly count?: number;
  readonly involvedObject?: { readonly kind?: string; readonly name?: string; readonly uid?: string };
}

export interface RolloutFacts {
  readonly deployment: DeploymentLike;
  /** The deployment's newest ReplicaSet (highest revision), when there is one. */
  readonly replicaSet?: ReplicaSetLike & { readonly status?: { readonly replicas?: number; readonly readyReplicas?: number } };
  readonly pods: readonly PodLike[];
  readonly events: readonly EventLike[];
}

const MAX_LINES = 20;
const MAX_EVENTS = 8;
const MAX_PODS_QUERIED = 5;
const MAX_POD_GROUPS = 4;
const MAX_TEXT = 240;
/** Pods of one ReplicaSet read for the block; a few are described, the rest counted. */
const MAX_PODS_LISTED = 100;

function newest(replicaSets: readonly ReplicaSetLike[]): ReplicaSetLike | undefined {
  return [...replicaSets].sort((a, b) => (revisionOf(b) ?? -1) - (revisionOf(a) ?? -1))[0];
}

async function collectFacts(cluster: Cluster, namespace: string, deployment: DeploymentLike, log: Log): Promise<RolloutFacts> {
  const options: CallOptions = { log, namespace, retry: { attempts: 2 } };
  const replicaSet = newest(await listOwnedReplicaSets(cluster, namespace, deployment, options));
  let pods: PodLike[] = [];
  if (replicaSet) {
    const selector = (replicaSet.spec as { selector?: LabelSelector } | undefined)?.selector;
    const list = await kubeCall(cluster, `list the pods of ReplicaSet '${replicaSet.metadata?.name ?? ''}'`,
      () => cluster.core.listNamespacedPod({ namespace, labelSelector: labelSelectorQuery(selector) || undefined, limit: MAX_PODS_LISTED }), options);
    pods = (list.items as PodLike[]).filter((pod) => controlledBy(pod, replicaSet.metadata?.uid));
  }
  const subjects: [string, string | undefined][] = [
    ['Deployment', deployment.metadata?.name], ['ReplicaSet', replicaSet?.metadata?.name],
    ...pods.slice(0, MAX_PODS_QUERIED).map((pod): [string, string | undefined] => ['Pod', pod.metadata?.name]),
  ];
  // One subject's events the server will not list (a name its field selector cannot carry) costs only those events.
  const lists = await Promise.all(subjects.filter(([, name]) => name).map(([kind, name]) => kubeCall(cluster, `list the events of ${kind} '${name}'`,
    () => cluster.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` }), options)
    .catch((error: unknown) => (error instanceof StoppedError ? Promise.reject(error) : { items: [] }))));
  return { deployment, replicaSet, pods, events: lists.flatMap((list) => list.items as EventLike[]) };
}

/** Pods, container states and Warning events of the deployment's newest ReplicaSet; never throws but for a cancel. */
export async function describeRolloutFailure(cluster: Cluster, namespace: string, deployment: DeploymentLike, log: Log): Promise<TextBlock> {
  try {
    return formatRolloutDiagnostics(await collectFacts(cluster, namespace, deployment, log));
  } catch (error) {
    if (error instanceof StoppedError) throw error;
    // Diagnostics accompany a failure already reported: a second failure must not hide the first.
    return new TextBlock([format('RolloutDiagnosticsFailed', deployment.metadata?.name ?? '', describeFailure(error))]);
  }
}

function clip(text: string | undefined): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > MAX_TEXT ? `${flat.slice(0, MAX_TEXT - 1)}…` : flat;
}

function conditionLines(deployment: DeploymentLike): string[] {
  return (deployment.status?.conditions ?? [])
    .filter((c) => c.status !== 'True')
    .map((c) => format('RolloutDiagCondition', deployment.metadata?.name ?? '', c.type ?? '', c.status ?? '', c.reason ?? '', clip(c.message)));
}

function containerLines(pod: PodLike): string[] {
  const specImages = new Map((pod.spec?.containers ?? []).map((c) => [c.name, c.image]));
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return statuses.filter((s) => !s.ready).map((s) => {
    const name = s.name ?? '';
    const image = s.image || specImages.get(s.name) || '';
    const restarts = s.restartCount ?? 0;
    const waiting = s.state?.waiting;
    if (waiting) return format('RolloutDiagWaiting', name, image, [waiting.reason, clip(waiting.message)].filter(Boolean).join(': '), restarts);
    const terminated = s.state?.terminated ?? s.lastState?.terminated;
    if (terminated) {
      const detail = terminated.message ? `: ${clip(terminated.message)}` : '';
      return format('RolloutDiagTerminated', name, image, terminated.exitCode ?? 0, terminated.reason ?? '', detail, restarts);
    }
    return format('RolloutDiagRunning', name, image, restarts);
  });
}

/** What makes two pods look alike to a reader: phase and each container's state reason. */
function podSignature(pod: PodLike): string {
  const states = (pod.status?.containerStatuses ?? []).map((s) => `${s.name}:${s.ready}:${s.state?.waiting?.reason ?? Object.keys(s.state ?? {}).join()}`);
  return [pod.status?.phase, ...states].join('|');
}

function podLines(pods: readonly PodLike[]): string[] {
  const groups = new Map<string, PodLike[]>();
  for (const pod of [...pods].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))) {
    const key = podSignature(pod);
    groups.set(key, [...(groups.get(key) ?? []), pod]);
  }
  const shown = [...groups.values()];
  const hidden = shown.splice(MAX_POD_GROUPS).reduce((n, group) => n + group.length, 0);
  // Few pod groups, so the warnings below still fit in the block.
  const more = hidden > 0 ? [format('RolloutDiagMorePods', hidden)] : [];
  return [...shown.flatMap(([pod, ...alike]) => {
    const statuses = pod.status?.containerStatuses ?? [];
    const more = alike.length > 0 ? format('RolloutDiagPodsAlike', alike.length) : '';
    const phase = [pod.status?.phase ?? 'Unknown', pod.status?.reason].filter(Boolean).join(' ');
    const head = format('RolloutDiagPod', pod.metadata?.name ?? '', more, phase, statuses.filter((s) => s.ready).length, statuses.length);
    return [head, ...containerLines(pod)];
  }), ...more];
}

/** Warning events of our objects, one line per (reason, message), counts summed, newest objects kept. */
function eventLines(events: readonly EventLike[], uids: ReadonlySet<string>): string[] {
  const merged = new Map<string, { event: EventLike; count: number; objects: Set<string> }>();
  for (const event of events) {
    if (event.type !== 'Warning') continue;
    const uid = event.involvedObject?.uid;
    if (uid && uids.size > 0 && !uids.has(uid)) continue; // an older object that had the same name
    const key = `${event.reason}|${event.message}`;
    const entry = merged.get(key) ?? { event, count: 0, objects: new Set<string>() };
    entry.count += event.count ?? 1;
    entry.objects.add(`${(event.involvedObject?.kind ?? '').toLowerCase()}/${event.involvedObject?.name ?? ''}`);
    merged.set(key, entry);
  }
  return [...merged.values()].slice(-MAX_EVENTS).map(({ event, count, objects }) => {
    const on = [...objects].slice(0, 2).join(', ') + (objects.size > 2 ? ', …' : '');
    return format('RolloutDiagEvent', event.type, event.reason ?? '', on, count, clip(event.message));
  });
}

/** The block describeRolloutFailure returns, from facts already fetched: pure, so it is unit-tested. */
export function formatRolloutDiagnostics(facts: RolloutFacts, maxLines = MAX_LINES): TextBlock {
  const { deployment, replicaSet, pods } = facts;
  const uids = new Set([deployment, replicaSet, ...pods].map((o) => o?.metadata?.uid).filter((uid): uid is string => Boolean(uid)));
  const replicaSetLine = replicaSet
    ? format('RolloutDiagReplicaSet', replicaSet.metadata?.name ?? '', revisionOf(replicaSet) ?? 0, replicaSet.status?.readyReplicas ?? 0,
      (replicaSet.spec as { replicas?: number } | undefined)?.replicas ?? pods.length)
    : format('RolloutDiagNoReplicaSet', deployment.metadata?.name ?? '');
  const lines = [...new Set([...conditionLines(deployment), replicaSetLine, ...podLines(pods), ...eventLines(facts.events, uids)])];
  if (lines.length <= maxLines) return new TextBlock(lines);
  return new TextBlock([...lines.slice(0, maxLines - 1), format('RolloutDiagMore', lines.length - maxLines + 1)]);
}
