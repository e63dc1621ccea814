/**
 * Reads and checks every input of DeployAiAppToAks@1 into one frozen value before anything talks to
 * the cluster: the cluster to reach, the workload to apply (generated, or the user's manifests with
 * the image substituted) and how to watch it.
 */
import * as fs from 'node:fs';
import { InputError } from '../errors';
import { DEFAULT_PROGRESS_DEADLINE_SECONDS, SERVICE_TYPES, validateAppSpec, type AppSpec } from '../kube/generate';
import { parseManifests } from '../kube/parse';
import { substituteImage } from '../kube/substitute';
import type { DeployRequest, PullSecret, Workload } from '../kube/deploy';
import type { ModelAnnotations } from '../kube/types';
import { checkDns1123Label, checkDns1123Subdomain, checkHttpPath, checkImage } from '../kube/validate';
import type { Agent } from './agent';
import type { SettingInputs, WithSettings } from './settings';
import { devOpsRunOf } from './devops';
import { boolInput, intInput, keyValueInput, listInput, modelDigestInput, modelVersionInput, pickInput, requiredInput } from './inputs';
import { type ClusterAccessRequest, readClusterAccess } from './kubeConnection';
import { readRegistryConnection } from './registryConnection';

/** Which input carries each setting the core may name (pipeline/settings.ts). */
const DEPLOY_SETTINGS: SettingInputs = Object.freeze({});

export interface DeployTaskInputs extends WithSettings {
  readonly cluster: ClusterAccessRequest;
  readonly deploy: DeployRequest;
  /** The manifest files the globs matched; empty when the workload is generated. */
  readonly manifestFiles: readonly string[];
  readonly model: ModelAnnotations;
}

/** Smoke test retries: a fresh load balancer can take a few seconds to pass traffic everywhere. */
const SMOKE_TEST = Object.freeze({ attempts: 10, intervalMs: 3000, timeoutMs: 10_000 });

/** Leaves the progress deadline inside the rollout timeout, so a stuck rollout is reported as such. */
export function progressDeadlineFor(rolloutTimeoutSeconds: number): number {
  return Math.min(DEFAULT_PROGRESS_DEADLINE_SECONDS, Math.max(30, rolloutTimeoutSeconds - 30));
}

function modelAnnotations(agent: Agent): ModelAnnotations {
  const run = devOpsRunOf(agent);
  return { modelVersion: modelVersionInput(agent), modelDigest: modelDigestInput(agent), pipelineRun: run.runUrl, commit: run.revision };
}

/**
 * A pull secret holds a long-lived user name and password. An ACR service principal with a secret
 * has one (as in Microsoft's KubernetesManifest task); federated and managed identities do not.
 */
function pullSecretInput(agent: Agent): PullSecret | undefined {
  const access = readRegistryConnection(agent, 'containerRegistry');
  if (access.kind === 'anonymous') return undefined;
  const name = agent.input('imagePullSecretName') ?? 'ai-app-registry';
  checkDns1123Subdomain('imagePullSecretName', name);
  if (access.kind === 'basic') return { name, registry: access.registry, username: access.username, password: access.password };
  const { connection } = access;
  if (connection.clientId && connection.clientSecret) return { name, registry: access.registry, username: connection.clientId, password: connection.clientSecret };
  throw new InputError('containerRegistry', 'DeployPullSecretNeedsPassword', [connection.name, access.registry, connection.scheme]);
}

function generatedApp(agent: Agent, base: { namespace: string; image: string; model: ModelAnnotations; pullSecret?: string; rolloutTimeoutSeconds: number }): AppSpec {
  const app: AppSpec = {
    appName: requiredInput(agent, 'appName', "'manifests' is empty (the task then generates a Deployment and a Service named after the app)"),
    namespace: base.namespace,
    image: base.image,
    replicas: intInput(agent, 'replicas', { min: 0, max: 1000, fallback: 2 }),
    containerPort: intInput(agent, 'containerPort', { min: 1, max: 65535, fallback: 5000 }),
    servicePort: intInput(agent, 'servicePort', { min: 1, max: 65535, fallback: 80 }),
    serviceType: pickInput(agent, 'serviceType', SERVICE_TYPES, 'LoadBalancer'),
    dnsLabel: agent.input('dnsLabel'),
    readinessPath: agent.input('readinessPath') ?? '/',
    env: keyValueInput(agent, 'env'),
    imagePullSecret: base.pullSecret,
    annotations: base.model,
    progressDeadlineSeconds: intInput(agent, 'progressDeadlineSeconds', { min: 5, max: 86400, fallback: progressDeadlineFor(base.rolloutTimeoutSeconds) }),
  };
  validateAppSpec(app);
  return app;
}

function userManifests(agent: Agent, patterns: readonly string[], image: string, model: ModelAnnotations): { workload: Workload; files: string[] } {
  const files = agent.findFiles(patterns);
  if (files.length === 0) throw new InputError('manifests', 'InputInvalid', ['manifests', patterns.join(', '), 'no file matches; give paths or globs of YAML manifests, relative to the sources folder ($(System.DefaultWorkingDirectory)) or absolute']);
  const parsed = parseManifests(files.map((file) => ({ source: file, text: fs.readFileSync(file, 'utf8') })));
  const { documents } = substituteImage(parsed, { image, containers: listInput(agent, 'containers'), annotations: model });
  return { workload: { kind: 'manifests', documents }, files };
}

export function readDeployInputs(agent: Agent): DeployTaskInputs {
  const cluster = readClusterAccess(agent);
  const namespace = agent.input('namespace') ?? 'default';
  checkDns1123Label('namespace', namespace);
  const image = requiredInput(agent, 'image', 'deploying (use $(bake.imageRef), the digest reference Bake Model Into Image outputs)');
  checkImage('image', image);
  const rolloutTimeoutSeconds = intInput(agent, 'rolloutTimeoutSeconds', { min: 60, max: 86400, fallback: 600 });
  const smokeTestPath = agent.input('smokeTestPath');
  if (smokeTestPath !== undefined) checkHttpPath('smokeTestPath', smokeTestPath);
  const model = modelAnnotations(agent);
  const imagePullSecret = pullSecretInput(agent);
  const patterns = (agent.input('manifests') ?? '').split('\n').map((line) => line.trim()).filter(Boolean);
  const { workload, files } = patterns.length > 0
    ? userManifests(agent, patterns, image, model)
    : { workload: { kind: 'generated' as const, app: generatedApp(agent, { namespace, image, model, pullSecret: imagePullSecret?.name, rolloutTimeoutSeconds }) }, files: [] };
  const deploy: DeployRequest = Object.freeze({
    namespace, image, workload, imagePullSecret,
    createNamespace: boolInput(agent, 'createNamespace', true),
    rolloutTimeoutMs: rolloutTimeoutSeconds * 1000,
    rollbackOnFailure: boolInput(agent, 'rollbackOnFailure', true),
    loadBalancerTimeoutMs: intInput(agent, 'loadBalancerTimeoutSeconds', { min: 10, max: 3600, fallback: 300 }) * 1000,
    smokeTest: smokeTestPath === undefined ? undefined : { path: smokeTestPath, ...SMOKE_TEST },
  });
  return Object.freeze({ settings: DEPLOY_SETTINGS, cluster, deploy, manifestFiles: files, model });
}
