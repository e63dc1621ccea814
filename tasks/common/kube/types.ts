/**
 * The few shapes of Kubernetes objects the pure kube code reads. Plain JSON, as the API server and
 * YAML manifests give them; every field is optional because user manifests may omit anything.
 */
import { SettingError } from '../errors';
import type { MessageKey } from '../messages';
import { Provenance } from '../provenance';

export type Labels = Readonly<Record<string, string>>;

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly labels?: Labels;
  readonly annotations?: Labels;
  readonly ownerReferences?: readonly { readonly uid?: string; readonly controller?: boolean; readonly kind?: string; readonly name?: string }[];
}

/** Any manifest document: apiVersion and kind are required, the rest is left as JSON. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: ObjectMeta;
  readonly [field: string]: unknown;
}

export interface Container {
  readonly name?: string;
  readonly image?: string;
  readonly [field: string]: unknown;
}

export interface PodSpec {
  readonly containers?: readonly Container[];
  readonly initContainers?: readonly Container[];
  readonly [field: string]: unknown;
}

export interface PodTemplate {
  readonly metadata?: ObjectMeta;
  readonly spec?: PodSpec;
}

/**
 * A manifest that cannot be used as written: a failure of the manifests, or of the container names
 * to replace. The message names the document and what to change, and says INPUT_SLOT for the input.
 */
export class KubeManifestError extends SettingError<'manifests' | 'containers' | 'images'> {
  constructor(key: MessageKey, args: readonly unknown[], setting: 'manifests' | 'containers' | 'images' = 'manifests') {
    super(setting, key, args);
  }
}

/** Annotation keys: the image labels Bake writes, reused so `kubectl describe` and the image agree. */
export const ANNOTATION_KEYS = Object.freeze({
  modelVersion: Provenance.modelVersion,
  modelDigest: Provenance.modelDigest,
  pipelineRun: Provenance.pipelineRun,
  commit: Provenance.revision,
});

export interface ModelAnnotations {
  readonly modelVersion?: string;
  readonly modelDigest?: string;
  readonly pipelineRun?: string;
  readonly commit?: string;
}

/** Only the annotations that have a value, keyed as ANNOTATION_KEYS says. */
export function annotationsFor(model: ModelAnnotations): Record<string, string> {
  const result: Record<string, string> = {};
  for (const field of Object.keys(ANNOTATION_KEYS) as (keyof ModelAnnotations)[]) {
    const value = model[field]?.trim();
    if (value) result[ANNOTATION_KEYS[field]] = value;
  }
  return result;
}

/**
 * What goes on a pod template: the model only, which changes with the image. Run and commit go on
 * the workload's own metadata, so re-deploying the running digest does not restart any pod.
 */
export function templateAnnotationsFor(model: ModelAnnotations): Record<string, string> {
  return annotationsFor({ modelVersion: model.modelVersion, modelDigest: model.modelDigest });
}
