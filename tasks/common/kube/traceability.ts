/**
 * The pipeline run's traceability annotations, named and valued as Microsoft's Kubernetes tasks
 * (KubernetesManifest) write them, so Azure DevOps' Environments resource view links a workload
 * back to the run that deployed it. They go on every applied object's own metadata, never on a
 * pod template: a template change would restart every pod on each run.
 */
import type { KubeObject } from './types';

/** The run as the agent describes it; a field the agent does not set is left out. */
export interface PipelineRunInfo {
  /** 'build' (YAML and classic build pipelines) or 'release' (classic release pipelines). */
  readonly hostType?: string;
  readonly collectionUri?: string;
  readonly collectionId?: string;
  readonly project?: string;
  readonly pipelineName?: string;
  readonly pipelineId?: string;
  readonly jobName?: string;
  /** Build.BuildNumber, or Release.ReleaseId in a release. */
  readonly runName?: string;
  /** Build.BuildId, or Release.ReleaseId in a release. */
  readonly runId?: string;
}

export const RUN_ANNOTATION_PREFIX = 'azure-pipelines/';

/** Unlike KubernetesManifest, values carry no literal quotes around the pipeline and job names. */
export function runAnnotationsFor(run: PipelineRunInfo): Readonly<Record<string, string>> {
  const page = run.hostType?.toLowerCase() === 'release' ? `_releaseProgress?releaseId=${run.runId}` : `_build/results?buildId=${run.runId}`;
  const runUri = run.collectionUri && run.project && run.runId ? `${run.collectionUri.replace(/\/?$/, '/')}${encodeURIComponent(run.project)}/${page}` : undefined;
  const values: Record<string, string | undefined> = {
    execution: run.runName, pipeline: run.pipelineName, pipelineId: run.pipelineId, jobName: run.jobName,
    executionuri: runUri, project: run.project, org: run.collectionId,
  };
  const annotations: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) if (value?.trim()) annotations[`${RUN_ANNOTATION_PREFIX}${name}`] = value.trim();
  return Object.freeze(annotations);
}

/** Copies of `documents` with `annotations` on each object's metadata (over the manifest's own). */
export function withRunAnnotations(documents: readonly KubeObject[], annotations: Readonly<Record<string, string>> | undefined): KubeObject[] {
  if (!annotations || Object.keys(annotations).length === 0) return [...documents];
  return documents.map((document) => ({
    ...document,
    metadata: { ...document.metadata, annotations: { ...(document.metadata?.annotations ?? {}), ...annotations } },
  }) as KubeObject);
}
