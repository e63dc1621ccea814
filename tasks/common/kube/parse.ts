/**
 * Multi-document YAML manifests to plain objects. Empty documents (a lone '---', comments) are
 * skipped; a `kind: List` is flattened into its items as kubectl does.
 */
import { loadAll, YAMLException } from 'js-yaml';
import { KubeManifestError, type KubeObject } from './types';

export interface ManifestSource {
  /** Where the text came from (a file path), used in messages only. */
  readonly source: string;
  readonly text: string;
}

export function parseManifests(sources: readonly ManifestSource[]): KubeObject[] {
  return sources.flatMap(parseOne);
}

function parseOne({ source, text }: ManifestSource): KubeObject[] {
  let documents: unknown[];
  try {
    documents = loadAll(text);
  } catch (error) {
    if (!(error instanceof YAMLException)) throw error;
    throw new KubeManifestError('ManifestInvalidYaml', [source, error.message]);
  }
  return documents.flatMap((document, index) => checkedObjects(document, `${source} document ${index + 1}`));
}

function checkedObjects(document: unknown, where: string): KubeObject[] {
  if (document === null || document === undefined) return [];
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new KubeManifestError('ManifestNotObject', [where, Array.isArray(document) ? 'a list' : `the ${typeof document} '${String(document)}'`]);
  }
  const object = document as Record<string, unknown>;
  if (typeof object.apiVersion !== 'string' || !object.apiVersion || typeof object.kind !== 'string' || !object.kind) {
    throw new KubeManifestError('ManifestNoKind', [where]);
  }
  // 'List' and typed lists such as 'DeploymentList' (what `kubectl get -o yaml` writes); a custom
  // kind that merely ends in 'List' and has no items stays an object.
  if (object.kind === 'List' || (object.kind.endsWith('List') && Array.isArray(object.items))) return listItems(object, where);
  return [object as KubeObject];
}

function listItems(list: Record<string, unknown>, where: string): KubeObject[] {
  if (!Array.isArray(list.items)) throw new KubeManifestError('ManifestListWithoutItems', [where, String(list.kind)]);
  return list.items.flatMap((item, index) => checkedObjects(item, `${where} item ${index + 1}`));
}
