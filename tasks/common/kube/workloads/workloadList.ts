/**
 * The workloads a deploy rolls out, picked from the manifests the same way on both paths: through
 * the API server (deploy.ts) and through AKS run command (privateDeploy.ts). Pure: a list that
 * cannot be rolled out and watched is refused here, before anything is applied or sent.
 */
import { TaskError } from '../../errors';
import type { DeploymentLike } from '../rolloutStatus';
import type { KubeObject, PodTemplate } from '../types';
import { isRollingUpdate } from './rolloutRules';

/** Where the workloads stand among the documents, and which one is the app. */
export interface WorkloadList {
  /** The workloads' indexes in the documents, in the documents' order; never empty. */
  readonly indexes: readonly number[];
  /** The primary's position in `indexes`: the workload running the image, else the first. */
  readonly primary: number;
}

/** What is watched and rolled back: Deployments, StatefulSets and DaemonSets. */
export function isWorkload(object: KubeObject): boolean {
  return (object.kind === 'Deployment' || object.kind === 'StatefulSet' || object.kind === 'DaemonSet') && /^apps\//.test(object.apiVersion);
}

export function templateOf(object: KubeObject | DeploymentLike | undefined): PodTemplate | undefined {
  return (object?.spec as { template?: PodTemplate } | undefined)?.template;
}

export function imagesOf(object: KubeObject): string[] {
  return (templateOf(object)?.spec?.containers ?? []).map((container) => container.image ?? '');
}

/** One object in the cluster: kind, namespace and name. */
export function objectKey(object: { readonly kind: string; readonly namespace?: string; readonly name?: string }): string {
  return `${object.kind}/${object.namespace ?? ''}/${object.name ?? ''}`;
}

/**
 * The workloads among `documents` (a document without a namespace goes to `namespace`), refused
 * when there is none, when a StatefulSet's or DaemonSet's rollout could not be watched (OnDelete),
 * or when one is given twice.
 */
export function workloadList(documents: readonly KubeObject[], options: { readonly namespace: string; readonly image: string }): WorkloadList {
  const indexes = documents.flatMap((document, index) => (isWorkload(document) ? [index] : []));
  if (indexes.length === 0) throw new TaskError('DeployNoDeployment', [documents.map((document) => `${document.kind} '${document.metadata?.name ?? '(unnamed)'}'`).join(', ') || 'nothing']);
  const seen = new Set<string>();
  for (const index of indexes) {
    const { kind, metadata } = documents[index];
    const strategy = (documents[index].spec as { updateStrategy?: { type?: string } } | undefined)?.updateStrategy?.type;
    if (kind !== 'Deployment' && !isRollingUpdate(strategy)) throw new TaskError('DeployStatefulSetOnDelete', [kind, metadata?.name ?? '']);
    const key = objectKey({ kind, namespace: metadata?.namespace ?? options.namespace, name: metadata?.name });
    if (seen.has(key)) throw new TaskError('DeployDeploymentTwice', [metadata?.name ?? '(unnamed)']);
    seen.add(key);
  }
  const primary = Math.max(0, indexes.findIndex((index) => imagesOf(documents[index]).includes(options.image)));
  return Object.freeze({ indexes: Object.freeze(indexes), primary });
}
