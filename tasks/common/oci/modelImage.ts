/**
 * What baking a model means for an image, as a pure function: the model layers appended, the model
 * env and labels set, and provenance annotations that say which base and which model it holds.
 */
import type { ContainerConfig, HistoryEntry, Image } from './image';
import { appendLayers, withAnnotations, withConfig } from './image';
import { Provenance } from '../provenance';
import type { Layer } from './layer';


export interface PipelineRun {
  readonly sourceUrl?: string;
  readonly revision?: string;
  readonly runUrl?: string;
  readonly pipelineName?: string;
}

export interface ModelBake {
  readonly modelDirectory: string;
  readonly modelVersion?: string;
  readonly modelDigest?: string;
  readonly setModelEnv: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** Undefined when addPipelineData is off. */
  readonly pipelineRun?: PipelineRun;
  /** RFC 3339; from SOURCE_DATE_EPOCH, so the same inputs give the same digest. */
  readonly created: string;
  readonly baseName: string;
}

function compact(entries: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
}

/** Env with each KEY replaced in place or appended, keeping the base image's order. */
export function mergeEnv(env: readonly string[], changes: Readonly<Record<string, string>>): string[] {
  const pending = new Map(Object.entries(changes));
  const merged = env.map((line) => {
    const key = line.split('=', 1)[0];
    if (!pending.has(key)) return line;
    const value = pending.get(key)!;
    pending.delete(key);
    return `${key}=${value}`;
  });
  return [...merged, ...[...pending].map(([key, value]) => `${key}=${value}`)];
}

function modelEnv(bake: ModelBake): Record<string, string> {
  if (!bake.setModelEnv) return {};
  return compact({ MODEL_PATH: bake.modelDirectory, MODEL_VERSION: bake.modelVersion, MODEL_DIGEST: bake.modelDigest });
}

export function modelLabels(bake: Omit<ModelBake, 'baseName'>): Record<string, string> {
  const run = bake.pipelineRun;
  return compact({
    [Provenance.modelPath]: bake.modelDirectory,
    [Provenance.modelVersion]: bake.modelVersion,
    [Provenance.modelDigest]: bake.modelDigest,
    [Provenance.source]: run?.sourceUrl,
    [Provenance.revision]: run?.revision,
    [Provenance.pipelineRun]: run?.runUrl,
    [Provenance.pipelineName]: run?.pipelineName,
  });
}

/** Manifest annotations for one platform image; baseDigest is that platform's base manifest digest. */
export function provenanceAnnotations(bake: ModelBake, baseDigest: string): Record<string, string> {
  return compact({
    [Provenance.baseName]: bake.baseName,
    [Provenance.baseDigest]: baseDigest,
    [Provenance.modelVersion]: bake.modelVersion,
    [Provenance.modelDigest]: bake.modelDigest,
    [Provenance.pipelineRun]: bake.pipelineRun?.runUrl,
  });
}

/** The base image plus the model layers, env, labels and annotations. Entrypoint, Cmd, User and WorkingDir are kept. */
export function bakeModelIntoImage(base: Image, baseDigest: string, layers: readonly { layer: Layer; description: string }[], bake: ModelBake): Image {
  const history: HistoryEntry[] = layers.map(({ description }) => ({
    created: bake.created,
    created_by: `BakeModelIntoImage@1: ${description}`,
    comment: bake.modelVersion ? `model version ${bake.modelVersion}` : 'model',
  }));
  const appended = appendLayers(base, layers.map(({ layer }) => layer), history);
  const configured = withConfig(appended, (config) => {
    const container: ContainerConfig = config.config ?? {};
    return {
      ...config,
      created: bake.created,
      config: {
        ...container,
        Env: mergeEnv(container.Env ?? [], modelEnv(bake)),
        Labels: { ...(container.Labels ?? {}), ...modelLabels(bake), ...bake.labels },
      },
    };
  });
  return withAnnotations(configured, provenanceAnnotations(bake, baseDigest));
}
