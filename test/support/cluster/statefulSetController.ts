/**
 * The StatefulSet controller, OrderedReady: pods <name>-0..n-1 created one at a time, each waiting
 * for the one before to be Ready; a RollingUpdate replaces, from the highest ordinal down to the
 * partition, one pod at a time and only while every pod is Ready, so a pod that never becomes Ready
 * blocks the update, and stays after its template is reverted, as on a real cluster (the forced
 * rollback the docs describe: delete that pod). Revisions are named <name>-<template hash> (the Deployment's hash, canonical JSON) and pods
 * carry controller-revision-hash; the ControllerRevision objects are API objects (controllerRevisions.ts).
 */
import { CONTROLLER_MANAGER, CONTROLLER_STATUS, type ControllerContext, R, controllerRef, isControlledBy } from './context';
import { REVISION_LABEL, recordRevision, templateOfRevision } from './controllerRevisions';
import { readyCondition } from './replicaSetController';
import type { KubeObject, Pod, PodTemplate } from './types';
import { clone, deepEqual } from './types';

const SOURCE = { component: 'statefulset-controller' };
export { REVISION_LABEL };

interface StatefulSet extends KubeObject {
  spec: { replicas: number; template: PodTemplate; updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } } };
  status?: { currentRevision?: string; updateRevision?: string };
}

export class StatefulSetController {
  constructor(private readonly ctx: ControllerContext) {}

  private revisionOf(sts: StatefulSet): string {
    return recordRevision(this.ctx, sts);
  }

  sync(namespace: string, name: string): void {
    const sts = this.ctx.api.tryGet(R.statefulSet, namespace, name) as StatefulSet | undefined;
    if (!sts || sts.metadata.deletionTimestamp) return;
    const updateRevision = this.revisionOf(sts);
    const currentRevision = sts.status?.currentRevision ?? updateRevision;
    const owned = (this.ctx.api.list(R.pod, namespace) as Pod[]).filter((pod) => isControlledBy(pod, sts));
    const byOrdinal = new Map(owned.map((pod) => [Number((pod.metadata.name ?? '').slice(name.length + 1)), pod]));
    const replicas = sts.spec.replicas;
    const rolling = (sts.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
    const partition = rolling ? sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0 : replicas;
    let settled = true;
    for (let ordinal = 0; ordinal < replicas; ordinal += 1) {
      const pod = byOrdinal.get(ordinal);
      if (!pod) {
        this.createPod(sts, ordinal, ordinal < partition ? currentRevision : updateRevision);
        settled = false;
        break;
      }
      if (pod.metadata.deletionTimestamp || !readyCondition(pod)) {
        settled = false;
        break;
      }
    }
    if (settled) {
      const extra = [...byOrdinal.entries()].filter(([ordinal, pod]) => ordinal >= replicas && !pod.metadata.deletionTimestamp).sort((a, b) => b[0] - a[0]);
      if (extra.length > 0) this.deletePod(sts, extra[0][1]);
      else {
        for (let ordinal = replicas - 1; ordinal >= partition; ordinal -= 1) {
          const pod = byOrdinal.get(ordinal);
          if (pod && pod.metadata.labels?.[REVISION_LABEL] !== updateRevision) {
            this.deletePod(sts, pod);
            break;
          }
        }
      }
    }
    this.updateStatus(sts, updateRevision, currentRevision);
  }

  private createPod(sts: StatefulSet, ordinal: number, revision: string): void {
    const template = clone(templateOfRevision(this.ctx, sts.metadata.namespace ?? '', revision) ?? sts.spec.template);
    const name = `${sts.metadata.name}-${ordinal}`;
    this.ctx.api.create(R.pod, sts.metadata.namespace, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name, namespace: sts.metadata.namespace,
        labels: { ...(template.metadata?.labels ?? {}), [REVISION_LABEL]: revision, 'statefulset.kubernetes.io/pod-name': name },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}), ownerReferences: [controllerRef(sts)],
      },
      spec: template.spec,
    }, CONTROLLER_MANAGER);
    this.ctx.events.record(sts, 'Normal', 'SuccessfulCreate', `create Pod ${name} in StatefulSet ${sts.metadata.name} successful`, SOURCE);
  }

  private deletePod(sts: StatefulSet, pod: Pod): void {
    this.ctx.api.delete(R.pod, pod.metadata.namespace, pod.metadata.name ?? '');
    this.ctx.events.record(sts, 'Normal', 'SuccessfulDelete', `delete Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} successful`, SOURCE);
  }

  private updateStatus(sts: StatefulSet, updateRevision: string, previous: string): void {
    const pods = (this.ctx.api.list(R.pod, sts.metadata.namespace) as Pod[]).filter((pod) => isControlledBy(pod, sts) && !pod.metadata.deletionTimestamp);
    const ready = pods.filter((pod) => readyCondition(pod)).length;
    const updated = pods.filter((pod) => pod.metadata.labels?.[REVISION_LABEL] === updateRevision).length;
    // Once every pod runs the update revision and is Ready, it becomes the current one.
    const currentRevision = updated === sts.spec.replicas && ready === sts.spec.replicas && pods.length === sts.spec.replicas ? updateRevision : previous;
    const status: Record<string, unknown> = {
      observedGeneration: sts.metadata.generation ?? 1, replicas: pods.length, readyReplicas: ready, availableReplicas: ready,
      currentReplicas: pods.filter((pod) => pod.metadata.labels?.[REVISION_LABEL] === currentRevision).length, updatedReplicas: updated,
      currentRevision, updateRevision, collisionCount: 0,
    };
    if (!deepEqual(sts.status, status)) {
      this.ctx.api.modify(R.statefulSet, sts.metadata.namespace, sts.metadata.name ?? '', CONTROLLER_STATUS, (o) => {
        o.status = status;
      });
    }
  }
}
