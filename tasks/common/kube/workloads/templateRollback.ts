/**
 * Rolling a StatefulSet or DaemonSet back: there is no `kubectl rollout undo` by ReplicaSet here, so
 * the pod template recorded before this run's apply is patched back. A pod the failed update left not
 * Ready blocks an OrderedReady StatefulSet even after the revert, so, as the Kubernetes docs' "forced
 * rollback" says, such pods are deleted and the controller recreates them from the reverted template
 * (a DaemonSet would replace them itself, but deleting them does not wait for its maxUnavailable budget).
 * Then the rollout is watched with kubectl's rules for the kind.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { RemoteError } from '../../errors';
import { withDeadline } from '../../lifetime';
import type { Log } from '../../log';
import { kubeCall, kubeRead } from '../apiCall';
import type { Cluster } from '../cluster';
import { type LabelSelector, labelSelectorQuery } from '../ownership';
import type { RollbackResult } from '../rollback';
import type { DeploymentLike } from '../rolloutStatus';
import { readWorkload, watchRollout } from '../rolloutWatch';
import type { PodTemplate } from '../types';

interface PodLike {
  readonly metadata?: { readonly name?: string; readonly ownerReferences?: readonly { readonly uid?: string; readonly controller?: boolean }[] };
  readonly status?: { readonly conditions?: readonly { readonly type?: string; readonly status?: string }[] };
}

function ready(pod: PodLike): boolean {
  return (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

/** Undefined when the workload did not exist before this run: there is nothing to go back to. */
export async function rollbackToTemplate(unbounded: Cluster, kind: 'StatefulSet' | 'DaemonSet', namespace: string, name: string, before: DeploymentLike | undefined, log: Log, timeoutMs: number): Promise<RollbackResult | undefined> {
  if (!before?.spec?.template) {
    log.info('RolloutNoPreviousRevision', name);
    return undefined;
  }
  const cluster = unbounded.within(withDeadline(unbounded.signal, timeoutMs, `the rollback of ${kind.toLowerCase()} '${name}'`));
  const template = before.spec.template as PodTemplate;
  const images = (template.spec?.containers ?? []).map((container) => container.image ?? '');
  const now = await kubeRead(cluster, `read ${kind.toLowerCase()} '${name}'`, () => readWorkload(cluster, kind, name, namespace), { log, namespace });
  const revision = before.metadata?.generation ?? 0;
  if (!isDeepStrictEqual(now?.spec?.template, template)) {
    log.info('RolloutRollingBackTemplate', kind, name, images.join(', '));
    const body = [{ op: 'replace', path: '/spec/template', value: template }];
    const patching = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    await kubeCall(cluster, `patch ${kind.toLowerCase()} '${name}' in namespace '${namespace}'`,
      (): Promise<unknown> => (kind === 'StatefulSet' ? cluster.apps.patchNamespacedStatefulSet({ name, namespace, body }, patching) : cluster.apps.patchNamespacedDaemonSet({ name, namespace, body }, patching)), { log, namespace });
  }
  const selector = labelSelectorQuery((now?.spec as { selector?: LabelSelector } | undefined)?.selector);
  const pods = await kubeCall(cluster, `list the pods of ${kind.toLowerCase()} '${name}'`, () => cluster.core.listNamespacedPod({ namespace, labelSelector: selector }), { log, namespace });
  for (const pod of pods.items as PodLike[]) {
    const owned = (pod.metadata?.ownerReferences ?? []).some((owner) => owner.controller === true && owner.uid === now?.metadata?.uid);
    if (!owned || ready(pod)) continue;
    log.info('RolloutDeletingStuckPod', pod.metadata?.name ?? '', kind.toLowerCase(), name);
    await kubeRead(cluster, `delete pod '${pod.metadata?.name}'`, () => cluster.core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace }), { log, namespace });
  }
  const outcome = await watchRollout(cluster, { kind, namespace, name, log, timeoutMs });
  if (outcome.kind === 'failed') throw new RemoteError('RolloutRollbackFailed', [name, revision, outcome.message]);
  log.info('RolloutRolledBackTemplate', kind, name, images.join(', '));
  return { revision: outcome.revision, images };
}
