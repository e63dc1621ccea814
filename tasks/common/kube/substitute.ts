/**
 * Puts the deployed image into user manifests. A container is replaced when its image has the same
 * repository as the new image (tag and digest ignored, Docker Hub short names expanded), or, when
 * the user names containers, exactly those. Pure: new documents and a report come back.
 */
import { parseReference, repositoryName } from '../oci/reference';
import { imageProblem, settingFailure } from './validate';
import { annotationsFor, type Container, KubeManifestError, type KubeObject, type ModelAnnotations, type PodTemplate, templateAnnotationsFor } from './types';

export interface SubstituteOptions {
  /** The reference to deploy, ideally repo@sha256:... */
  readonly image: string;
  /** Container names to replace; when empty, every container whose repository matches. */
  readonly containers?: readonly string[];
  /** Added to the pod templates where an image was replaced. */
  readonly annotations?: ModelAnnotations;
  /**
   * Further images, each put into every container whose image has the pair's repository (`image`
   * and `containers` win where both match). No model annotations: those describe `image`.
   */
  readonly images?: readonly ImagePair[];
}

/** One line of the images input: the repository the manifests name, and the reference to deploy. */
export interface ImagePair {
  readonly repository: string;
  readonly reference: string;
}

export interface Replacement {
  readonly kind: string;
  readonly name: string;
  readonly container: string;
  readonly from: string;
  readonly to: string;
}

export interface SubstituteResult {
  readonly documents: readonly KubeObject[];
  readonly replacements: readonly Replacement[];
}

interface SeenContainer {
  readonly kind: string;
  readonly name: string;
  readonly container: string;
  readonly image: string;
}

/** registry/repository, or undefined for an image text that is not a valid reference. */
export function repositoryOf(image: string): string | undefined {
  try {
    return repositoryName(parseReference(image));
  } catch {
    return undefined;
  }
}

/** Where each workload kind keeps its pod template; kinds not listed hold no containers. */
function podTemplateOf(object: Record<string, unknown>): PodTemplate | undefined {
  const spec = object.spec as Record<string, unknown> | undefined;
  switch (object.kind) {
    case 'Pod': return object as PodTemplate;
    case 'Deployment': case 'StatefulSet': case 'DaemonSet': case 'ReplicaSet': case 'Job': case 'ReplicationController':
      return spec?.template as PodTemplate | undefined;
    case 'CronJob': return ((spec?.jobTemplate as Record<string, unknown> | undefined)?.spec as Record<string, unknown> | undefined)?.template as PodTemplate | undefined;
    default: return undefined;
  }
}

export function substituteImage(documents: readonly KubeObject[], options: SubstituteOptions): SubstituteResult {
  const matches = containerMatcher(options);
  const pairs = (options.images ?? []).map((pair) => ({ ...pair, target: repositoryOf(pair.repository) }));
  const copies = documents.map((document) => structuredClone(document) as KubeObject);
  const seen: SeenContainer[] = [];
  const replacements: Replacement[] = [];
  const others: Replacement[] = [];
  const inOrder: Replacement[] = [];
  for (const copy of copies) {
    const template = podTemplateOf(copy as Record<string, unknown>);
    if (!template) continue;
    const before = replacements.length;
    for (const container of containersOf(template)) {
      const entry = { kind: copy.kind, name: copy.metadata?.name ?? '(unnamed)', container: container.name ?? '(unnamed)', image: container.image ?? '' };
      seen.push(entry);
      if (matches(entry)) {
        (container as { image?: string }).image = options.image;
        replacements.push({ kind: entry.kind, name: entry.name, container: entry.container, from: entry.image, to: options.image });
        inOrder.push(replacements[replacements.length - 1]);
        continue;
      }
      const pair = pairs.find((candidate) => candidate.target !== undefined && candidate.target === repositoryOf(entry.image));
      if (pair) {
        (container as { image?: string }).image = pair.reference;
        others.push({ kind: entry.kind, name: entry.name, container: entry.container, from: entry.image, to: pair.reference });
        inOrder.push(others[others.length - 1]);
      }
    }
    // Only templates that changed get annotations, so unrelated workloads do not restart.
    if (replacements.length > before) {
      annotate(copy, annotationsFor(options.annotations ?? {}));
      annotate(template, templateAnnotationsFor(options.annotations ?? {}));
    }
  }
  checkAllMatched(options, seen, replacements);
  const unused = pairs.filter((pair) => !others.some((replacement) => repositoryOf(replacement.from) === pair.target));
  if (unused.length > 0) {
    throw new KubeManifestError('ManifestNoImagesMatch', [unused.map((pair) => `'${pair.repository}'`).join(', '), describeSeen(seen)], 'images');
  }
  return { documents: copies, replacements: inOrder };
}

function containersOf(template: PodTemplate): Container[] {
  return [...(template.spec?.initContainers ?? []), ...(template.spec?.containers ?? [])];
}

function containerMatcher(options: SubstituteOptions): (entry: SeenContainer) => boolean {
  const names = (options.containers ?? []).map((name) => name.trim()).filter(Boolean);
  if (names.length > 0) return (entry) => names.includes(entry.container);
  const target = repositoryOf(options.image);
  const problem = target === undefined ? imageProblem(options.image) : undefined;
  if (problem) throw settingFailure({ setting: 'image', ...problem });
  return (entry) => repositoryOf(entry.image) === target;
}

/** Writes into a copy made by substituteImage, never into the caller's documents. */
function annotate(template: PodTemplate | KubeObject, annotations: Record<string, string>): void {
  if (Object.keys(annotations).length === 0) return;
  const metadata = ((template as { metadata?: object }).metadata ??= {}) as { annotations?: Record<string, string> };
  metadata.annotations = { ...(metadata.annotations ?? {}), ...annotations };
}

function describeSeen(seen: readonly SeenContainer[]): string {
  return seen.map((entry) => `${entry.image || '(no image)'} (${entry.kind}/${entry.name}, container ${entry.container})`).join('; ');
}

function checkAllMatched(options: SubstituteOptions, seen: readonly SeenContainer[], replacements: readonly Replacement[]): void {
  const names = (options.containers ?? []).map((name) => name.trim()).filter(Boolean);
  if (seen.length === 0) throw new KubeManifestError('ManifestNoWorkloads', [options.image]);
  const missing = names.filter((name) => !replacements.some((replacement) => replacement.container === name));
  if (missing.length > 0) {
    throw new KubeManifestError('ManifestContainerNotFound', [names.join(','), missing.map((name) => `'${name}'`).join(', '), describeSeen(seen)], 'containers');
  }
  if (replacements.length === 0) {
    throw new KubeManifestError('ManifestNoMatchingContainer', [repositoryOf(options.image), options.image, describeSeen(seen)]);
  }
}
