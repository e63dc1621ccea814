/**
 * The little schema knowledge that merging needs: which lists are keyed (and by what), which are
 * sets, which maps are atomic. The real server reads this from x-kubernetes-list-type/-list-map-keys
 * and patchMergeKey in its OpenAPI; these are the ones Deployments, Pods and Services use.
 */

export type ListKind =
  | { readonly type: 'map'; readonly keys: readonly string[] }
  | { readonly type: 'set' }
  | { readonly type: 'atomic' };

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

const KEYED: Record<string, readonly string[]> = {
  containers: ['name'], initContainers: ['name'], ephemeralContainers: ['name'],
  env: ['name'], volumes: ['name'], volumeMounts: ['mountPath'], volumeDevices: ['devicePath'],
  imagePullSecrets: ['name'], conditions: ['type'], ownerReferences: ['uid'], hostAliases: ['ip'],
  topologySpreadConstraints: ['topologyKey', 'whenUnsatisfiable'], resourceClaims: ['name'],
};

/** Defaults of list-map key fields, so an item that omits `protocol` still matches its TCP twin. */
export const KEY_DEFAULTS: Record<string, string> = { protocol: 'TCP' };

/** `path` holds the field names from the object root to the list, without list keys. */
export function listKind(path: readonly string[]): ListKind {
  const field = path[path.length - 1];
  if (field === 'finalizers') return { type: 'set' };
  if (field === 'ports') {
    const inContainer = path.length >= 2 && CONTAINER_LISTS.has(path[path.length - 2]);
    return { type: 'map', keys: inContainer ? ['containerPort', 'protocol'] : ['port', 'protocol'] };
  }
  const keys = KEYED[field];
  return keys ? { type: 'map', keys } : { type: 'atomic' };
}

/** The strategic-merge-patch merge key of a list, if it merges rather than replaces. */
export function patchMergeKey(path: readonly string[]): string | 'primitive-merge' | undefined {
  const kind = listKind(path);
  if (kind.type === 'set') return 'primitive-merge';
  return kind.type === 'map' ? kind.keys[0] : undefined;
}

/** Maps replaced as a whole (x-kubernetes-map-type: atomic), such as LabelSelectors. */
export function isAtomicMap(path: readonly string[], kind: string): boolean {
  const field = path[path.length - 1];
  if (field === 'labelSelector' || field === 'namespaceSelector') return true;
  return path.length === 2 && path[0] === 'spec' && field === 'selector' && (kind === 'Deployment' || kind === 'ReplicaSet');
}
