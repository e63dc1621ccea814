/**
 * Prune, ApplySet style (KEP-3659, as `kubectl apply --prune --applyset`): every object a run applies
 * carries the label applyset.kubernetes.io/part-of=<id>; a parent Secret carries
 * applyset.kubernetes.io/id=<id> and records the group-kinds and namespaces its members may be in.
 * The parent is written with the superset before the apply; after a successful rollout the members
 * the manifests no longer hold are deleted and the parent then records the current set alone.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Log } from '../log';
import { kubeCall, kubeRead, kubeStatusError } from './apiCall';
import { BODY_LIMITS } from '../net/body';
import { applyObjects } from './apply';
import { type Cluster, apiResource } from './cluster';
import type { KubeObject } from './types';

export const PART_OF_LABEL = 'applyset.kubernetes.io/part-of';
export const ID_LABEL = 'applyset.kubernetes.io/id';
export const GROUP_KINDS_ANNOTATION = 'applyset.kubernetes.io/contains-group-kinds';
export const NAMESPACES_ANNOTATION = 'applyset.kubernetes.io/additional-namespaces';
export const TOOLING_ANNOTATION = 'applyset.kubernetes.io/tooling';
const TOOLING = 'DeployAiAppToAks/v1';

export interface ApplySet {
  readonly id: string;
  readonly parent: { readonly name: string; readonly namespace: string };
  /** The members' group-kinds ("Deployment.apps", "ConfigMap") and namespaces as the parent recorded them before this run. */
  readonly previousGroupKinds: readonly string[];
  readonly previousNamespaces: readonly string[];
}

/** The KEP's id: base64url(sha256("<name>.<namespace>.<kind>.<group>")), for a Secret parent. */
export function applySetId(name: string, namespace: string): string {
  const digest = createHash('sha256').update(`${name}.${namespace}.Secret.`).digest('base64url');
  return `applyset-${digest}-v1`;
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
}

/** "Deployment.apps"; a core kind is its kind alone. */
export function groupKindOf(object: KubeObject): string {
  const group = groupOf(object.apiVersion);
  return group ? `${object.kind}.${group}` : object.kind;
}

function split(text: string | undefined): string[] {
  return (text ?? '').split(',').map((part) => part.trim()).filter(Boolean);
}

/** Copies of the documents, each labelled as a member of the set. */
export function asMembers(documents: readonly KubeObject[], id: string): KubeObject[] {
  return documents.map((document) => {
    const copy = structuredClone(document) as KubeObject & { metadata: { labels?: Record<string, string> } };
    copy.metadata = { ...(copy.metadata ?? {}), labels: { ...(copy.metadata?.labels ?? {}), [PART_OF_LABEL]: id } };
    return copy;
  });
}

function parentSecret(set: Pick<ApplySet, 'id' | 'parent'>, groupKinds: readonly string[], namespaces: readonly string[]): KubeObject {
  const others = [...new Set(namespaces)].filter((namespace) => namespace && namespace !== set.parent.namespace).sort();
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: {
      name: set.parent.name, namespace: set.parent.namespace, labels: { [ID_LABEL]: set.id },
      annotations: { [TOOLING_ANNOTATION]: TOOLING, [GROUP_KINDS_ANNOTATION]: [...new Set(groupKinds)].sort().join(','), [NAMESPACES_ANNOTATION]: others.join(',') },
    },
  } as KubeObject;
}

/** Reads what earlier runs recorded, then records the superset with this run's members, before they are applied. */
export async function openApplySet(cluster: Cluster, parent: { name: string; namespace: string }, members: readonly KubeObject[], log: Log): Promise<ApplySet> {
  const id = applySetId(parent.name, parent.namespace);
  const found = await kubeRead(cluster, `read secret '${parent.name}' in namespace '${parent.namespace}'`,
    () => cluster.core.readNamespacedSecret({ name: parent.name, namespace: parent.namespace }), { log, namespace: parent.namespace });
  const annotations = found?.metadata?.annotations ?? {};
  const previousGroupKinds = found?.metadata?.labels?.[ID_LABEL] === id ? split(annotations[GROUP_KINDS_ANNOTATION]) : [];
  const previousNamespaces = found?.metadata?.labels?.[ID_LABEL] === id ? split(annotations[NAMESPACES_ANNOTATION]) : [];
  const set = { id, parent, previousGroupKinds, previousNamespaces };
  const namespaces = [...previousNamespaces, ...members.map((member) => member.metadata?.namespace ?? '')];
  await applyObjects(cluster, [parentSecret(set, [...previousGroupKinds, ...members.map(groupKindOf)], namespaces)], { namespace: parent.namespace, log });
  return set;
}

/**
 * The group's preferred version from discovery (GET /apis/<group>), as kubectl resolves a group-kind
 * the ApplySet parent records without a version; 'v1' for the core group; undefined when the cluster
 * no longer serves the group (then nothing of it can be left to prune).
 */
export async function preferredVersion(cluster: Cluster, group: string, log: Log): Promise<string | undefined> {
  if (!group) return 'v1';
  const peer = `discovery of API group '${group}'`;
  const found = await kubeRead(cluster, `read ${peer}`, async () => {
    const response = await cluster.send('GET', `/apis/${encodeURIComponent(group)}`);
    const text = await response.text(BODY_LIMITS.json, peer);
    if (response.status < 200 || response.status >= 300) throw kubeStatusError(peer, response.status, text, response.header('retry-after'));
    return text;
  }, { log });
  if (found === undefined) return undefined;
  let answer: { preferredVersion?: { groupVersion?: unknown }; versions?: { groupVersion?: unknown }[] } = {};
  try {
    answer = JSON.parse(found) as typeof answer;
  } catch {
    // Not an APIGroup: the fallback below.
  }
  const named = [answer?.preferredVersion?.groupVersion, answer?.versions?.[0]?.groupVersion].find((value) => typeof value === 'string' && value.startsWith(`${group}/`));
  return typeof named === 'string' ? named : `${group}/v1`;
}

function keyOf(groupKind: string, namespace: string | undefined, name: string | undefined): string {
  return `${groupKind}/${namespace ?? ''}/${name ?? ''}`;
}

/**
 * Deletes the members earlier runs applied that `applied` (the server's copies of this run's objects)
 * no longer holds, then records this run's group-kinds and namespaces alone. Returns what was deleted.
 */
export async function pruneApplySet(cluster: Cluster, set: ApplySet, applied: readonly KubeObject[], log: Log): Promise<string[]> {
  const keep = new Set(applied.map((object) => keyOf(groupKindOf(object), object.metadata?.namespace, object.metadata?.name)));
  const versions = new Map(applied.map((object) => [groupKindOf(object), object.apiVersion]));
  const groupKinds = [...new Set([...set.previousGroupKinds, ...applied.map(groupKindOf)])];
  const namespaces = [...new Set([set.parent.namespace, ...set.previousNamespaces, ...applied.map((object) => object.metadata?.namespace ?? '').filter(Boolean)])];
  const deleted: string[] = [];
  for (const groupKind of groupKinds) {
    const [kind, ...group] = groupKind.split('.');
    // A kind no longer in the manifests: listed at the version the API server prefers for its group.
    const apiVersion = versions.get(groupKind) ?? await preferredVersion(cluster, group.join('.'), log);
    if (!apiVersion) continue;
    const resource = await apiResource(cluster, apiVersion, kind);
    if (!resource) continue;
    for (const namespace of resource.namespaced ? namespaces : [undefined]) {
      const list = await kubeCall(cluster, `list ${kind} in the apply set`,
        () => cluster.objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, `${PART_OF_LABEL}=${set.id}`), { log, namespace });
      for (const item of list.items as KubernetesObject[]) {
        if (keep.has(keyOf(groupKind, item.metadata?.namespace, item.metadata?.name))) continue;
        const target = { apiVersion, kind, metadata: { name: item.metadata?.name, namespace: item.metadata?.namespace } };
        await kubeRead(cluster, `delete ${kind} '${item.metadata?.name}'`, () => cluster.objects.delete(target, undefined, undefined, undefined, undefined, 'Background'), { log, namespace });
        const where = item.metadata?.namespace ? ` in namespace '${item.metadata.namespace}'` : '';
        log.info('DeployPruned', kind, item.metadata?.name ?? '', where);
        deleted.push(`${kind}/${item.metadata?.name ?? ''}`);
      }
    }
  }
  await applyObjects(cluster, [parentSecret(set, applied.map(groupKindOf), applied.map((object) => object.metadata?.namespace ?? ''))], { namespace: set.parent.namespace, log });
  return deleted;
}
