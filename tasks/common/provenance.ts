/**
 * The annotation and label keys that say which base, which model and which pipeline run an image or a
 * running pod carries: Bake writes them into the image, Deploy onto the workload and its pods, and
 * anyone reads them back with `skopeo inspect` or `kubectl describe`.
 */
/** Names anyone can look for with `skopeo inspect` or `kubectl describe` to tell which model runs. */
export const Provenance = {
  baseName: 'org.opencontainers.image.base.name',
  baseDigest: 'org.opencontainers.image.base.digest',
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
  modelVersion: 'ai.model.version',
  modelDigest: 'ai.model.digest',
  modelPath: 'ai.model.path',
  pipelineRun: 'dev.azure.pipelines.run',
  pipelineName: 'dev.azure.pipelines.pipeline',
} as const;
