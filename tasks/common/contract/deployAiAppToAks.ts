// Generated from tasks/DeployAiAppToAksV1/task.json by scripts/contracts.mjs (npm run build). Do not edit:
// change task.json and rebuild.

/** Deploy AI App To AKS 1.3.0: every input, with its pick-list values and default. */
export const DeployAiAppToAksInputs = {
  connectionType: { name: 'connectionType', kind: 'pickList', options: ['kubernetesServiceConnection', 'azureResourceManager'], default: 'kubernetesServiceConnection', required: true },
  kubernetesServiceConnection: { name: 'kubernetesServiceConnection', kind: 'connectedService', required: true },
  azureSubscription: { name: 'azureSubscription', kind: 'connectedService', required: true },
  resourceGroup: { name: 'resourceGroup', kind: 'pickList', required: true },
  kubernetesCluster: { name: 'kubernetesCluster', kind: 'pickList', required: true },
  useClusterAdmin: { name: 'useClusterAdmin', kind: 'boolean', default: false },
  privateCluster: { name: 'privateCluster', kind: 'boolean', default: false },
  namespace: { name: 'namespace', kind: 'string', default: 'default' },
  createNamespace: { name: 'createNamespace', kind: 'boolean', default: true },
  image: { name: 'image', kind: 'string' },
  manifests: { name: 'manifests', kind: 'multiLine' },
  containers: { name: 'containers', kind: 'string' },
  images: { name: 'images', kind: 'multiLine' },
  prune: { name: 'prune', kind: 'boolean', default: false },
  appName: { name: 'appName', kind: 'string' },
  replicas: { name: 'replicas', kind: 'int', default: 2 },
  containerPort: { name: 'containerPort', kind: 'int', default: 5000 },
  readinessPath: { name: 'readinessPath', kind: 'string', default: '/' },
  env: { name: 'env', kind: 'multiLine' },
  serviceType: { name: 'serviceType', kind: 'pickList', options: ['LoadBalancer', 'ClusterIP', 'NodePort'], default: 'LoadBalancer' },
  servicePort: { name: 'servicePort', kind: 'int', default: 80 },
  dnsLabel: { name: 'dnsLabel', kind: 'string' },
  smokeTestPath: { name: 'smokeTestPath', kind: 'string' },
  containerRegistry: { name: 'containerRegistry', kind: 'connectedService' },
  imagePullSecretName: { name: 'imagePullSecretName', kind: 'string', default: 'ai-app-registry' },
  requireProvenance: { name: 'requireProvenance', kind: 'boolean', default: false },
  trustedPublicKeys: { name: 'trustedPublicKeys', kind: 'filePath' },
  allowInsecureRegistry: { name: 'allowInsecureRegistry', kind: 'boolean', default: false },
  modelVersion: { name: 'modelVersion', kind: 'string' },
  modelDigest: { name: 'modelDigest', kind: 'string' },
  verifyModel: { name: 'verifyModel', kind: 'boolean', default: true },
  modelCheckPath: { name: 'modelCheckPath', kind: 'string', default: '/version' },
  modelCheckField: { name: 'modelCheckField', kind: 'string', default: 'model_digest' },
  goldenRequests: { name: 'goldenRequests', kind: 'filePath' },
  maxLatencyMs: { name: 'maxLatencyMs', kind: 'int' },
  rolloutTimeoutSeconds: { name: 'rolloutTimeoutSeconds', kind: 'int', default: 600 },
  rollbackOnFailure: { name: 'rollbackOnFailure', kind: 'boolean', default: true },
  strategy: { name: 'strategy', kind: 'pickList', options: ['rolling', 'canary'], default: 'rolling' },
  action: { name: 'action', kind: 'pickList', options: ['deploy', 'promote', 'abort'], default: 'deploy' },
  canarySteps: { name: 'canarySteps', kind: 'string', default: '10%:5m, 50%:5m' },
  canaryRequestRate: { name: 'canaryRequestRate', kind: 'string', default: '5' },
  onInconclusive: { name: 'onInconclusive', kind: 'pickList', options: ['abort', 'promote'], default: 'abort' },
  canaryDecision: { name: 'canaryDecision', kind: 'pickList', options: ['automatic', 'manual'], default: 'automatic' },
  progressDeadlineSeconds: { name: 'progressDeadlineSeconds', kind: 'int' },
  loadBalancerTimeoutSeconds: { name: 'loadBalancerTimeoutSeconds', kind: 'int', default: 300 },
} as const;

/** The task's name and version, as its provenance names the builder. */
export const DeployAiAppToAksTask = { name: 'DeployAiAppToAks', version: '1.3.0' } as const;

/** The output variables, by name. */
export const DeployAiAppToAksOutputs = {
  deploymentName: 'deploymentName',
  revision: 'revision',
  deployedImage: 'deployedImage',
  serviceIp: 'serviceIp',
  serviceHostname: 'serviceHostname',
  serviceUrl: 'serviceUrl',
  rolledBack: 'rolledBack',
  modelVerified: 'modelVerified',
  workloads: 'workloads',
  verdict: 'verdict',
  analysisReport: 'analysisReport',
} as const;
