// Generated from tasks/FetchLatestModelV1/task.json by scripts/contracts.mjs (npm run build). Do not edit:
// change task.json and rebuild.

/** Fetch Latest Model 1.4.1: every input, with its pick-list values and default. */
export const FetchLatestModelInputs = {
  source: { name: 'source', kind: 'pickList', options: ['azureBlob', 's3', 'pipelineArtifact', 'azureMLRegistry', 'oci', 'mlflow'], default: 'azureBlob', required: true },
  connectionType: { name: 'connectionType', kind: 'pickList', options: ['azureResourceManager', 'connectionString', 'sasUrl'], default: 'azureResourceManager', required: true },
  azureSubscription: { name: 'azureSubscription', kind: 'connectedService' },
  storageAccount: { name: 'storageAccount', kind: 'pickList', required: true },
  connectionString: { name: 'connectionString', kind: 'string', required: true },
  sasUrl: { name: 'sasUrl', kind: 'string', required: true },
  container: { name: 'container', kind: 'string', required: true },
  awsCredentials: { name: 'awsCredentials', kind: 'connectedService' },
  awsAccessKeyId: { name: 'awsAccessKeyId', kind: 'string' },
  awsSecretAccessKey: { name: 'awsSecretAccessKey', kind: 'string' },
  awsSessionToken: { name: 'awsSessionToken', kind: 'string' },
  s3Bucket: { name: 's3Bucket', kind: 'string', required: true },
  s3Region: { name: 's3Region', kind: 'string' },
  s3Endpoint: { name: 's3Endpoint', kind: 'string' },
  s3ForcePathStyle: { name: 's3ForcePathStyle', kind: 'boolean', default: false },
  azureDevOpsConnection: { name: 'azureDevOpsConnection', kind: 'connectedService' },
  project: { name: 'project', kind: 'string' },
  pipeline: { name: 'pipeline', kind: 'string', required: true },
  artifactName: { name: 'artifactName', kind: 'string', required: true },
  branch: { name: 'branch', kind: 'string' },
  runTag: { name: 'runTag', kind: 'string' },
  resourceGroup: { name: 'resourceGroup', kind: 'string', required: true },
  workspace: { name: 'workspace', kind: 'string', required: true },
  modelName: { name: 'modelName', kind: 'string', required: true },
  modelLabel: { name: 'modelLabel', kind: 'string' },
  ociRepository: { name: 'ociRepository', kind: 'string', required: true },
  containerRegistry: { name: 'containerRegistry', kind: 'connectedService' },
  modelPathInImage: { name: 'modelPathInImage', kind: 'string' },
  mlflowTrackingUri: { name: 'mlflowTrackingUri', kind: 'string', required: true },
  registeredModel: { name: 'registeredModel', kind: 'string', required: true },
  mlflowAlias: { name: 'mlflowAlias', kind: 'string' },
  mlflowToken: { name: 'mlflowToken', kind: 'string' },
  modelPrefix: { name: 'modelPrefix', kind: 'string' },
  selection: { name: 'selection', kind: 'pickList', options: ['highestVersion', 'newest', 'tagQuery', 'pinned'], default: 'highestVersion', required: true },
  tagQuery: { name: 'tagQuery', kind: 'string', required: true },
  version: { name: 'version', kind: 'string', required: true },
  includePrereleases: { name: 'includePrereleases', kind: 'boolean', default: false },
  destination: { name: 'destination', kind: 'filePath', agentDefault: '$(Agent.TempDirectory)/model', required: true },
  verifyIntegrity: { name: 'verifyIntegrity', kind: 'boolean', default: true },
  cacheDirectory: { name: 'cacheDirectory', kind: 'string' },
  concurrency: { name: 'concurrency', kind: 'int', default: 8 },
  blockSizeMiB: { name: 'blockSizeMiB', kind: 'int', default: 16 },
  retries: { name: 'retries', kind: 'int', default: 5 },
  timeoutSeconds: { name: 'timeoutSeconds', kind: 'int', default: 3600 },
  allowInsecureRegistry: { name: 'allowInsecureRegistry', kind: 'boolean', default: false },
} as const;

/** The task's name and version, as its provenance names the builder. */
export const FetchLatestModelTask = { name: 'FetchLatestModel', version: '1.4.1' } as const;

/** The output variables, by name. */
export const FetchLatestModelOutputs = {
  modelPath: 'modelPath',
  modelName: 'modelName',
  modelVersion: 'modelVersion',
  modelDigest: 'modelDigest',
  modelUri: 'modelUri',
  modelSize: 'modelSize',
  modelFiles: 'modelFiles',
} as const;
