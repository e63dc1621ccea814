/**
 * Multi-document YAML (or JSON) manifests to plain objects, before anything is applied: every
 * document is parsed, its aliases expanded within a cap, checked, and turned into the JSON it will
 * be sent as, so a problem in the last document leaves the cluster untouched. Empty documents (a
 * lone '---', comments) are skipped; a `kind: List` is flattened into its items as kubectl does.
 * Scalars are read as kubectl reads them (YAML 1.1: `0644` is octal; see kubectlScalars.ts).
 * Errors name the file, the document and the line, never the manifest's text.
 */
import { KubeManifestError, type KubeObject } from './types';
import { KUBECTL_SCHEMA, UnsafeInteger } from './kubectlScalars';
import { YamlProblem, loadDocuments } from './yamlDocuments';

export interface ManifestSource {
  /** Where the text came from (a file path), used in messages only. */
  readonly source: string;
  readonly text: string;
}

export function parseManifests(sources: readonly ManifestSource[]): KubeObject[] {
  return sources.flatMap(parseOne);
}

/** JSON has no .inf or .nan (kubectl refuses them too), and a JavaScript number holds integers only up to 2^53. */
function jsonScalar(value: unknown): string | undefined {
  if (typeof value === 'number' && !Number.isFinite(value)) return 'it holds a number JSON cannot carry (.inf or .nan); quote it if it is meant as text';
  if (value instanceof UnsafeInteger) return `it holds an integer beyond 2^53 that would not be sent exactly (${value.text.slice(0, 30)}); quote it if it is meant as text`;
  return undefined;
}

function parseOne({ source, text }: ManifestSource): KubeObject[] {
  let documents: unknown[];
  try {
    documents = loadDocuments(text, { schema: KUBECTL_SCHEMA, checkScalar: jsonScalar });
  } catch (error) {
    if (!(error instanceof YamlProblem)) throw error;
    throw new KubeManifestError('ManifestInvalidYaml', [source, error.reason]);
  }
  // A JSON round trip gives each document the exact shape it is sent in, with every alias its own copy.
  return documents.flatMap((document, index) => checkedObjects(JSON.parse(JSON.stringify(document) ?? 'null'), `${source} document ${index + 1}`));
}

function checkedObjects(document: unknown, where: string): KubeObject[] {
  if (document === null || document === undefined) return [];
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new KubeManifestError('ManifestNotObject', [where, Array.isArray(document) ? 'a list' : `a ${typeof document}`]);
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
