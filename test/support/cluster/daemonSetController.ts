/**
 * The DaemonSet controller: one pod per node (the simulator's nodes), pinned to it. A RollingUpdate
 * replaces pods whose controller-revision-hash is not the update revision's: a pod that is not
 * available goes at once, an available one only while fewer than maxUnavailable pods are
 * unavailable (maxSurge is taken as 0, the default). So a new template that never becomes Ready
 * leaves its pod not Ready, and the rollout stuck, as on a real cluster. Revisions are named like
 * the StatefulSet's (<name>-<template hash>); status carries the fields kubectl's DaemonSet rollout
 * rules read.
 */
import { CONTROLLER_MANAGER, CONTROLLER_STATUS, type ControllerContext, R, controllerRef, isControlledBy } from './context';
import { recordRevision } from './controllerRevisions';
import { readyCondition } from './replicaSetController';
import { REVISION_LABEL } from './controllerRevisions';
import type { KubeObject, Pod, PodTemplate } from './types';
import { deepEqual } from './types';

const SOURCE = { component: 'daemonset-controller' };

interface DaemonSet extends KubeObject {
  spec: { template: PodTemplate; updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } } };
}

/** An int or a percentage of the desired count, rounded up as for DaemonSets (at least 1). */
function maxUnavailableOf(ds: DaemonSet, desired: number): number {
  const value = ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1;
  const count = typeof value === 'string' && value.endsWith('%') ? Math.ceil((Number(value.slice(0, -1)) * desired) / 100) : Number(value);
  return Math.max(1, Number.isFinite(count) ? count : 1);
}

export class DaemonSetController {
  constructor(private readonly ctx: ControllerContext) {}

  sync(namespace: string, name: string): void {
    const ds = this.ctx.api.tryGet(R.daemonSet, namespace, name) as DaemonSet | undefined;
    if (!ds || ds.metadata.deletionTimestamp) return;
    const revision = recordRevision(this.ctx, ds);
    const nodes = this.ctx.api.list(R.node).map((node) => node.metadata.name ?? '');
    const pods = this.owned(ds);
    const onNode = (node: string) => pods.filter((pod) => pod.spec.nodeName === node);
    for (const node of nodes) if (onNode(node).length === 0) this.createPod(ds, node, revision);
    if ((ds.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
      const old = pods.filter((pod) => pod.metadata.labels?.[REVISION_LABEL] !== revision);
      let unavailable = nodes.filter((node) => !onNode(node).some((pod) => readyCondition(pod))).length;
      const budget = maxUnavailableOf(ds, nodes.length);
      // Old pods that are not available go first and cost nothing; then available ones within the budget.
      for (const pod of old.filter((one) => !readyCondition(one))) this.deletePod(ds, pod);
      for (const pod of old.filter((one) => readyCondition(one))) {
        if (unavailable >= budget) break;
        this.deletePod(ds, pod);
        unavailable += 1;
      }
    }
    this.updateStatus(ds, revision, nodes);
  }

  private owned(ds: DaemonSet): Pod[] {
    return (this.ctx.api.list(R.pod, ds.metadata.namespace) as Pod[]).filter((pod) => isControlledBy(pod, ds) && !pod.metadata.deletionTimestamp);
  }

  private createPod(ds: DaemonSet, node: string, revision: string): void {
    const template = ds.spec.template;
    const pod = this.ctx.api.create(R.pod, ds.metadata.namespace, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        generateName: `${ds.metadata.name}-`, namespace: ds.metadata.namespace,
        labels: { ...(template.metadata?.labels ?? {}), [REVISION_LABEL]: revision, 'pod-template-generation': String(ds.metadata.generation ?? 1) },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}), ownerReferences: [controllerRef(ds)],
      },
      spec: { ...template.spec, nodeName: node },
    }, CONTROLLER_MANAGER);
    this.ctx.events.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`, SOURCE);
  }

  private deletePod(ds: DaemonSet, pod: Pod): void {
    this.ctx.api.delete(R.pod, pod.metadata.namespace, pod.metadata.name ?? '');
    this.ctx.events.record(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`, SOURCE);
  }

  private updateStatus(ds: DaemonSet, revision: string, nodes: readonly string[]): void {
    const pods = this.owned(ds);
    const scheduled = nodes.filter((node) => pods.some((pod) => pod.spec.nodeName === node));
    const ready = pods.filter((pod) => readyCondition(pod)).length;
    const status: Record<string, unknown> = {
      currentNumberScheduled: scheduled.length, numberMisscheduled: 0, desiredNumberScheduled: nodes.length,
      numberReady: ready, observedGeneration: ds.metadata.generation ?? 1,
      updatedNumberScheduled: nodes.filter((node) => pods.some((pod) => pod.spec.nodeName === node && pod.metadata.labels?.[REVISION_LABEL] === revision)).length,
      numberAvailable: ready, ...(nodes.length - ready > 0 ? { numberUnavailable: nodes.length - ready } : {}),
    };
    if (!deepEqual(ds.status, status)) {
      this.ctx.api.modify(R.daemonSet, ds.metadata.namespace, ds.metadata.name ?? '', CONTROLLER_STATUS, (o) => {
        o.status = status;
      });
    }
  }
}
