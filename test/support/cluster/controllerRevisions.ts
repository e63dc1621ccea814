/**
 * ControllerRevisions (apps/v1), the history StatefulSets and DaemonSets keep as API objects, so
 * `kubectl rollout history/undo statefulset|daemonset` work as on a real cluster: one per distinct
 * template, named <owner>-<template hash>, labelled like the pods with controller-revision-hash,
 * owned by the workload; `data` is the strategic merge patch that puts the template back
 * ({spec: {template: {..., $patch: replace}}}), `revision` a number that grows with each change;
 * going back to an earlier template re-stamps its revision as the newest, as the real controllers do.
 */
import { CONTROLLER_MANAGER, type ControllerContext, R, controllerRef, isControlledBy } from './context';
import { templateHash } from './deploymentUtil';
import type { KubeObject, PodTemplate } from './types';
import { clone } from './types';

export const REVISION_LABEL = 'controller-revision-hash';

interface ControllerRevision extends KubeObject {
  revision?: number;
  data?: { spec?: { template?: PodTemplate } };
}

/** The owner's revisions, oldest first. */
export function revisionsOf(ctx: ControllerContext, owner: KubeObject): ControllerRevision[] {
  return (ctx.api.list(R.controllerRevision, owner.metadata.namespace) as ControllerRevision[])
    .filter((revision) => isControlledBy(revision, owner))
    .sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0));
}

/** Records the owner's current template (idempotent) and returns its revision's name: the pods' controller-revision-hash. */
export function recordRevision(ctx: ControllerContext, owner: KubeObject & { spec: { template: PodTemplate } }): string {
  const hash = templateHash(owner.spec.template);
  const name = `${owner.metadata.name}-${hash}`;
  const history = revisionsOf(ctx, owner);
  const newest = history.at(-1)?.revision ?? 0;
  const found = history.find((revision) => revision.metadata.name === name);
  if (found) {
    if ((found.revision ?? 0) !== newest) ctx.api.modify(R.controllerRevision, owner.metadata.namespace, name, CONTROLLER_MANAGER, (object) => { (object as ControllerRevision).revision = newest + 1; });
    return name;
  }
  const template = clone(owner.spec.template);
  ctx.api.create(R.controllerRevision, owner.metadata.namespace, {
    apiVersion: 'apps/v1', kind: 'ControllerRevision',
    metadata: { name, namespace: owner.metadata.namespace, labels: { ...(template.metadata?.labels ?? {}), [REVISION_LABEL]: hash }, ownerReferences: [controllerRef(owner)] },
    data: { spec: { template: { ...template, $patch: 'replace' } } }, revision: newest + 1,
  }, CONTROLLER_MANAGER);
  return name;
}

/** The template a revision recorded (for pods of an older, partitioned revision). */
export function templateOfRevision(ctx: ControllerContext, namespace: string, name: string): PodTemplate | undefined {
  const found = ctx.api.tryGet(R.controllerRevision, namespace, name) as ControllerRevision | undefined;
  const template = found?.data?.spec?.template;
  if (!template) return undefined;
  const { $patch: _, ...rest } = clone(template) as PodTemplate & { $patch?: string };
  return rest;
}
