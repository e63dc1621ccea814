// Generated from tasks/BakeModelIntoImageV1/task.json by scripts/contracts.mjs (npm run build). Do not edit:
// change task.json and rebuild.

/** Bake Model Into Image 1.2.2: every input, with its pick-list values and default. */
export const BakeModelIntoImageInputs = {
  mode: { name: 'mode', kind: 'pickList', options: ['appendLayer', 'dockerBuild'], default: 'appendLayer', required: true },
  containerRegistry: { name: 'containerRegistry', kind: 'connectedService' },
  baseImage: { name: 'baseImage', kind: 'string', required: true },
  image: { name: 'image', kind: 'string' },
  tags: { name: 'tags', kind: 'multiLine', agentDefault: '$(Build.BuildId)' },
  modelPath: { name: 'modelPath', kind: 'filePath', required: true },
  modelDirectory: { name: 'modelDirectory', kind: 'string', default: '/models' },
  modelVersion: { name: 'modelVersion', kind: 'string' },
  modelDigest: { name: 'modelDigest', kind: 'string' },
  modelUri: { name: 'modelUri', kind: 'string' },
  setModelEnv: { name: 'setModelEnv', kind: 'boolean', default: true },
  dockerfile: { name: 'dockerfile', kind: 'filePath', required: true },
  buildContext: { name: 'buildContext', kind: 'filePath' },
  buildArguments: { name: 'buildArguments', kind: 'multiLine' },
  labels: { name: 'labels', kind: 'multiLine' },
  addPipelineData: { name: 'addPipelineData', kind: 'boolean', default: true },
  provenance: { name: 'provenance', kind: 'boolean', default: true },
  signingKey: { name: 'signingKey', kind: 'pickList', options: ['none', 'azureKeyVault', 'pemFile'], default: 'none' },
  signingKeyFile: { name: 'signingKeyFile', kind: 'filePath' },
  keyVaultConnection: { name: 'keyVaultConnection', kind: 'connectedService' },
  keyVaultKeyId: { name: 'keyVaultKeyId', kind: 'string' },
  compression: { name: 'compression', kind: 'pickList', options: ['none', 'gzip'], default: 'none' },
  allowInsecureRegistry: { name: 'allowInsecureRegistry', kind: 'boolean', default: false },
  retries: { name: 'retries', kind: 'string', default: '5' },
  timeoutSeconds: { name: 'timeoutSeconds', kind: 'int', default: 3600 },
  chunkSizeMiB: { name: 'chunkSizeMiB', kind: 'string', default: '64' },
} as const;

/** The task's name and version, as its provenance names the builder. */
export const BakeModelIntoImageTask = { name: 'BakeModelIntoImage', version: '1.2.2' } as const;

/** The output variables, by name. */
export const BakeModelIntoImageOutputs = {
  imageRef: 'imageRef',
  imageDigest: 'imageDigest',
  imageTags: 'imageTags',
  modelLayerDigests: 'modelLayerDigests',
  bytesUploaded: 'bytesUploaded',
  bytesReused: 'bytesReused',
  provenanceDigest: 'provenanceDigest',
  signatureDigest: 'signatureDigest',
} as const;
