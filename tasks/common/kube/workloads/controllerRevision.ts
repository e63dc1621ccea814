/**
 * A StatefulSet's or DaemonSet's revision number, as `kubectl rollout history` shows it: the
 * `revision` of its ControllerRevision. A StatefulSet names its current one (status.updateRevision);
 * a DaemonSet does not, but its controller re-stamps the running template's revision as the newest.
 * Their generation, which changes with every spec edit, is only the fallback when the cluster keeps
 * no ControllerRevision for it.
 */
import type { Log } from '../../log';
import { type CallOptions, KubeApiError, kubeCall } from '../apiCall';
import type { Cluster } from '../cluster';
import { type LabelSelector, labelSelectorQuery } from '../ownership';
import type { DeploymentLike } from '../rolloutStatus';

export interface RevisionLike {
  readonly metadata?: { readonly name?: string; readonly ownerReferences?: readonly { readonly uid?: string; readonly controller?: boolean }[] };
  readonly revision?: number;
}

/** Pure: the workload's revision number among `revisions` (any ControllerRevisions of its namespace); undefined when none is its. */
export function revisionNumber(kind: 'StatefulSet' | 'DaemonSet', workload: DeploymentLike, revisions: readonly RevisionLike[]): number | undefined {
  const uid = workload.metadata?.uid;
  const owned = revisions.filter((one) => uid && one.metadata?.ownerReferences?.some((ref) => ref.controller && ref.uid === uid) && Number.isInteger(one.revision));
  const update = (workload.status as { updateRevision?: string } | undefined)?.updateRevision;
  const chosen = kind === 'StatefulSet' && update ? owned.find((one) => one.metadata?.name === update) : owned.reduce<RevisionLike | undefined>((newest, one) => ((one.revision ?? 0) > (newest?.revision ?? -1) ? one : newest), undefined);
  return chosen?.revision;
}

/** Reads the workload's ControllerRevisions (by its selector) and picks its revision number. */
export async function controllerRevisionNumber(cluster: Cluster, kind: 'StatefulSet' | 'DaemonSet', namespace: string, workload: DeploymentLike, options: CallOptions & { log: Log }): Promise<number | undefined> {
  const labelSelector = labelSelectorQuery((workload.spec as { selector?: LabelSelector } | undefined)?.selector);
  const name = workload.metadata?.name ?? '';
  try {
    const list = await kubeCall(cluster, `list the controller revisions of ${kind.toLowerCase()} '${name}'`,
      () => cluster.apps.listNamespacedControllerRevision({ namespace, labelSelector }), { ...options, namespace });
    return revisionNumber(kind, workload, list.items as RevisionLike[]);
  } catch (error) {
    // A connection whose role may not list them still deploys: the generation is reported instead.
    if (error instanceof KubeApiError && error.status === 403) {
      options.log.debug(`controllerrevisions of ${kind.toLowerCase()} '${name}' not readable (403): reporting its generation`);
      return undefined;
    }
    throw error;
  }
}
