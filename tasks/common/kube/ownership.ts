/**
 * Which objects a workload owns, found as kubectl finds them: by the owner's label selector, then
 * by a controller owner reference. Rollback and diagnostics both read the ReplicaSets this way.
 */
import { type CallOptions, kubeCall } from './apiCall';
import type { Cluster } from './cluster';
import type { DeploymentLike, ReplicaSetLike } from './rolloutStatus';

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

export interface Named {
  readonly metadata?: { readonly name?: string; readonly uid?: string; readonly ownerReferences?: readonly { readonly uid?: string; readonly controller?: boolean }[] };
}

/** metav1.LabelSelectorAsSelector, as a query string. */
export function labelSelectorQuery(selector: LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    if (operator === 'In') parts.push(`${key} in (${values.join(',')})`);
    else if (operator === 'NotIn') parts.push(`${key} notin (${values.join(',')})`);
    else if (operator === 'Exists') parts.push(key);
    else if (operator === 'DoesNotExist') parts.push(`!${key}`);
  }
  return parts.join(',');
}

export function controlledBy(object: Named, uid: string | undefined): boolean {
  return uid !== undefined && (object.metadata?.ownerReferences ?? []).some((owner) => owner.controller === true && owner.uid === uid);
}

/** The ReplicaSets the deployment controls, found as kubectl finds them: by its selector, then by owner. */
export async function listOwnedReplicaSets(cluster: Cluster, namespace: string, deployment: DeploymentLike, options: CallOptions): Promise<ReplicaSetLike[]> {
  const selector = (deployment.spec as { selector?: LabelSelector } | undefined)?.selector;
  const list = await kubeCall(cluster, `list the ReplicaSets of deployment '${deployment.metadata?.name ?? ''}' in namespace '${namespace}'`,
    () => cluster.apps.listNamespacedReplicaSet({ namespace, labelSelector: labelSelectorQuery(selector) || undefined }), options);
  return (list.items as ReplicaSetLike[]).filter((rs) => controlledBy(rs, deployment.metadata?.uid));
}
