/**
 * Reads and checks every input of DeployAiAppToAks@1 into one frozen value before anything talks to
 * the cluster: the cluster to reach, the workload to apply (generated, or the user's manifests with
 * the image substituted) and how to watch it. Names, pick lists and defaults come from the contract
 * generated from task.json; the core's checks say what is wrong, and this file names the input.
 */
import * as fs from 'node:fs';
import type { ClusterAccessRequest } from '../azure/clusterAccess';
import { DeployAiAppToAksInputs as Inputs } from '../contract/deployAiAppToAks';
import { InputError } from './inputError';
import type { DeployRequest, GeneratedApp, PullSecret, Workload } from '../kube/deploy';
import { type GoldenSettings, parseGoldenRequests } from '../kube/goldenRequests';
import type { ModelCheckSettings } from '../kube/modelCheck';
import { type AppSpec, DEFAULT_PROGRESS_DEADLINE_SECONDS, appSpecProblem } from '../kube/generate';
import { parseManifests } from '../kube/parse';
import { type ImagePair, repositoryOf, substituteImage } from '../kube/substitute';
import { ReferenceError, parseRepository } from '../oci/reference';
import { runAnnotationsFor } from '../kube/traceability';
import type { ModelAnnotations } from '../kube/types';
import { MAX_REPLICAS, type ValueProblem, dns1123LabelProblem, dns1123SubdomainProblem, httpPathProblem, imageProblem } from '../kube/validate';
import type { Agent } from './agent';
import { devOpsRunOf, pipelineRunInfoOf } from './devops';
import { type InputSpec, boolInput, intInput, keyValueInput, listInput, modelDigestInput, modelVersionInput, pickInput, requiredInput, textInput } from './inputs';
import { type ConnectionType, clusterSettings, connectionTypeOf, readClusterAccess } from './kubeConnection';
import { readRegistryConnection } from './registryConnection';
import type { ProvenanceGate } from '../attest/verify';
import { deployProvenanceInput } from './provenanceInputs';
import type { CanarySettings } from '../kube/strategy/canary';
import type { CanaryAction, CanaryDecision } from '../kube/strategy/decision';
import { parseCanarySteps } from '../kube/strategy/steps';
import { ROLLING, type Strategy } from '../kube/strategy/deliver';
import type { BlueGreenSettings } from '../kube/strategy/blueGreen';
import { PREVIEW_SUFFIX } from '../kube/strategy/colours';
import { type SettingInputs, type WithSettings, readingInputs } from './settings';

interface DeployTaskCommon extends WithSettings {
  readonly cluster: ClusterAccessRequest;
  readonly model: ModelAnnotations;
  /** Set when requireProvenance is on: what the gate checks before anything is applied. */
  readonly provenance?: ProvenanceGate;
}

/** action deploy (the default): a rolling deploy, a canary or blue-green. */
export interface DeployTaskInputs extends DeployTaskCommon {
  readonly deploy: DeployRequest;
  /** The manifest files the globs matched; empty when the workload is generated. */
  readonly manifestFiles: readonly string[];
  /** Set when strategy is canary (also inside `strategy`; the private-cluster path refuses it by this). */
  readonly canary?: CanarySettings;
  /** How the image is delivered: what deliver() runs. */
  readonly strategy: Strategy;
  readonly decision?: undefined;
}

/** action promote or abort: the decision on a canary that waits in the cluster. */
export interface DecideTaskInputs extends DeployTaskCommon {
  readonly decision: CanaryDecision;
  readonly deploy?: undefined;
  readonly canary?: undefined;
  readonly strategy?: undefined;
  readonly manifestFiles?: undefined;
}

/** The input behind each field of a generated app's spec: the setting a spec problem names. */
const APP_SPEC_INPUTS: { readonly [Field in keyof AppSpec]?: string } = Object.freeze({
  appName: Inputs.appName.name, namespace: Inputs.namespace.name, image: Inputs.image.name, replicas: Inputs.replicas.name,
  containerPort: Inputs.containerPort.name, servicePort: Inputs.servicePort.name, serviceType: Inputs.serviceType.name, dnsLabel: Inputs.dnsLabel.name,
  readinessPath: Inputs.readinessPath.name, env: Inputs.env.name, imagePullSecret: Inputs.imagePullSecretName.name, progressDeadlineSeconds: Inputs.progressDeadlineSeconds.name,
});

/** Which input carries each setting the core may name, in a run through `connectionType`. */
export function deploySettings(connectionType: ConnectionType): SettingInputs {
  return Object.freeze({
    ...APP_SPEC_INPUTS,
    ...clusterSettings(connectionType),
    registryConnection: Inputs.containerRegistry.name,
    manifests: Inputs.manifests.name,
    containers: Inputs.containers.name,
    images: Inputs.images.name,
    trustedPublicKeys: Inputs.trustedPublicKeys.name,
    modelDigest: Inputs.modelDigest.name,
    goldenRequests: Inputs.goldenRequests.name,
    canarySteps: Inputs.canarySteps.name,
  });
}

/** Smoke test retries: a fresh load balancer can take a few seconds to pass traffic everywhere. */
const SMOKE_TEST = Object.freeze({ attempts: 10, intervalMs: 3000, timeoutMs: 10_000 });

/** Leaves the progress deadline inside the rollout timeout, so a stuck rollout is reported as such. */
export function progressDeadlineFor(rolloutTimeoutSeconds: number): number {
  return Math.min(DEFAULT_PROGRESS_DEADLINE_SECONDS, Math.max(30, rolloutTimeoutSeconds - 30));
}

function rejectIf(input: string, problem: ValueProblem | undefined): void {
  if (problem) throw new InputError(input, problem.key, [input, ...problem.args]);
}

/** A text input, else its default from task.json, that the core's check accepts. */
function checkedText(agent: Agent, input: InputSpec, problemOf: (value: string) => ValueProblem | undefined): string {
  const value = textInput(agent, input) ?? '';
  rejectIf(input.name, problemOf(value));
  return value;
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
  const access = readRegistryConnection(agent, Inputs.containerRegistry.name);
  if (access.kind === 'anonymous') return undefined;
  const name = checkedText(agent, Inputs.imagePullSecretName, dns1123SubdomainProblem);
  if (access.kind === 'basic') return { name, registry: access.registry, username: access.username, password: access.password };
  const { connection } = access;
  if (connection.clientId && connection.clientSecret) return { name, registry: access.registry, username: connection.clientId, password: connection.clientSecret };
  throw new InputError(Inputs.containerRegistry.name, 'DeployPullSecretNeedsPassword', [connection.name, access.registry, connection.scheme]);
}

/** Without an image (a promote takes the recorded one), the core checks the spec with that image. */
function generatedApp(agent: Agent, base: { namespace: string; image?: string; model: ModelAnnotations; pullSecret?: string; rolloutTimeoutSeconds: number }): GeneratedApp {
  const app = {
    appName: requiredInput(agent, Inputs.appName, "'manifests' is empty (the task then generates a Deployment and a Service named after the app)"),
    namespace: base.namespace,
    image: base.image,
    replicas: intInput(agent, Inputs.replicas, { min: 0, max: MAX_REPLICAS }),
    containerPort: intInput(agent, Inputs.containerPort, { min: 1, max: 65535 }),
    servicePort: intInput(agent, Inputs.servicePort, { min: 1, max: 65535 }),
    serviceType: pickInput(agent, Inputs.serviceType),
    dnsLabel: textInput(agent, Inputs.dnsLabel),
    readinessPath: textInput(agent, Inputs.readinessPath) ?? '',
    env: keyValueInput(agent, Inputs.env.name),
    imagePullSecret: base.pullSecret,
    annotations: base.model,
    progressDeadlineSeconds: intInput(agent, Inputs.progressDeadlineSeconds, { min: 5, max: 86400, fallback: progressDeadlineFor(base.rolloutTimeoutSeconds) }),
  };
  const problem = app.image === undefined ? undefined : appSpecProblem({ ...app, image: app.image });
  if (problem) rejectIf(APP_SPEC_INPUTS[problem.setting] ?? problem.setting, problem);
  return app;
}

function userManifests(agent: Agent, patterns: readonly string[], image: string, model: ModelAnnotations): { workload: Workload; files: string[] } {
  const files = agent.findFiles(patterns);
  const input = Inputs.manifests.name;
  if (files.length === 0) throw new InputError(input, 'InputInvalid', [input, patterns.join(', '), 'no file matches; give paths or globs of YAML manifests, relative to the sources folder ($(System.DefaultWorkingDirectory)) or absolute']);
  const parsed = parseManifests(files.map((file) => ({ source: file, text: fs.readFileSync(file, 'utf8') })));
  const images = imagePairsInput(agent, image);
  const { documents } = substituteImage(parsed, { image, containers: listInput(agent, Inputs.containers.name), annotations: model, images });
  return { workload: { kind: 'manifests', documents }, files };
}

const IMAGE_PAIR_FORM = 'one repository=reference per line, such as myacr.azurecr.io/churn-worker=myacr.azurecr.io/churn-worker@sha256:...';

/** The images input: repository=reference lines, each repository once and none of them image's own. */
function imagePairsInput(agent: Agent, image: string): ImagePair[] {
  const name = Inputs.images.name;
  const pairs: ImagePair[] = [];
  const seen = new Set([repositoryOf(image)]);
  for (const line of (textInput(agent, Inputs.images) ?? '').split('\n').map((text) => text.trim()).filter(Boolean)) {
    const equals = line.indexOf('=');
    const repository = line.slice(0, Math.max(equals, 0)).trim();
    const reference = line.slice(equals + 1).trim();
    if (equals < 0 || !repository || !reference) throw new InputError(name, 'InputInvalid', [name, line, `expected ${IMAGE_PAIR_FORM}`]);
    try {
      parseRepository(repository);
    } catch (error) {
      if (!(error instanceof ReferenceError)) throw error;
      throw new InputError(name, 'InputInvalid', [name, line, `'${repository}': ${error.message}; expected ${IMAGE_PAIR_FORM}`]);
    }
    rejectIf(name, imageProblem(reference));
    const target = repositoryOf(repository);
    if (seen.has(target)) {
      const why = target === repositoryOf(image) ? `it is the repository of 'image' (${image}), which already goes there` : 'it is given twice';
      throw new InputError(name, 'InputInvalid', [name, line, `repository '${target}': ${why}`]);
    }
    seen.add(target);
    pairs.push({ repository, reference });
  }
  return pairs;
}

/** A dotted JSON field: letters, digits, '_' and '-' between dots. */
const FIELD_PATH = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
/** A golden file is a handful of requests with their answers. */
const MAX_GOLDEN_FILE_BYTES = 4 * 1024 * 1024;

/** Where the app says which model it serves: a path and a field of its JSON answer. */
function modelProbeInput(agent: Agent): Omit<ModelCheckSettings, 'digest'> {
  const path = checkedText(agent, Inputs.modelCheckPath, httpPathProblem);
  const field = textInput(agent, Inputs.modelCheckField) ?? '';
  if (!FIELD_PATH.test(field)) {
    throw new InputError(Inputs.modelCheckField.name, 'InputInvalid', [Inputs.modelCheckField.name, field, "a field name of the JSON answer: letters, digits, '_' or '-', with dots for nested objects, for example 'model_digest' or 'model.digest'"]);
  }
  return { path, field };
}

/** The identity check: on when a model digest is given and verifyModel is not turned off. */
function modelCheckInput(agent: Agent, digest: string | undefined): ModelCheckSettings | undefined {
  if (digest === undefined || !boolInput(agent, Inputs.verifyModel)) return undefined;
  return { digest, ...modelProbeInput(agent) };
}

function goldenRequestsInput(agent: Agent): GoldenSettings | undefined {
  const name = Inputs.goldenRequests.name;
  const file = agent.pathInput(name);
  if (file === undefined) return undefined;
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile()) throw new InputError(name, 'InputInvalid', [name, file, 'no such file; give the path of a JSON or JSON Lines file of golden requests']);
  if (stat.size > MAX_GOLDEN_FILE_BYTES) throw new InputError(name, 'InputInvalid', [name, file, `the file holds ${stat.size} bytes; a golden requests file is at most ${MAX_GOLDEN_FILE_BYTES} bytes`]);
  const maxLatencyText = agent.input(Inputs.maxLatencyMs.name);
  const maxLatencyMs = maxLatencyText === undefined ? undefined : intInput(agent, Inputs.maxLatencyMs, { min: 1, max: 600_000 });
  return { requests: parseGoldenRequests(fs.readFileSync(file, 'utf8'), file), source: file, maxLatencyMs };
}

/** strategy canary: the generated workload, golden requests to compare the tracks on, and the steps. */
function canaryInput(agent: Agent, deploy: DeployRequest): CanarySettings | undefined {
  if (pickInput(agent, Inputs.strategy) !== 'canary') return undefined;
  const strategy = Inputs.strategy.name;
  if (deploy.workload.kind !== 'generated') {
    throw new InputError(strategy, 'InputInvalid', [strategy, 'canary', "it works with the generated workload (appName, 'manifests' empty): the task then knows the Service and can keep dark canary pods out of it; use rolling with your own manifests"]);
  }
  if (!deploy.goldenRequests) {
    const golden = Inputs.goldenRequests.name;
    throw new InputError(golden, 'InputRequired', [golden, 'strategy is canary (the canary and the baseline are compared on the golden requests replayed to both)']);
  }
  return {
    steps: parseCanarySteps(textInput(agent, Inputs.canarySteps) ?? '', true),
    requestsPerSecond: intInput(agent, Inputs.canaryRequestRate, { min: 1, max: 100 }),
    onInconclusive: pickInput(agent, Inputs.onInconclusive),
    decision: pickInput(agent, Inputs.canaryDecision),
  };
}

/** What a rolling deploy needs besides the image, the workload and the model check. */
function rolloutInputs(agent: Agent, namespace: string, rolloutTimeoutSeconds: number, imagePullSecret: PullSecret | undefined) {
  const smokeTestPath = textInput(agent, Inputs.smokeTestPath);
  if (smokeTestPath !== undefined) rejectIf(Inputs.smokeTestPath.name, httpPathProblem(smokeTestPath));
  return {
    namespace, imagePullSecret,
    createNamespace: boolInput(agent, Inputs.createNamespace),
    rolloutTimeoutMs: rolloutTimeoutSeconds * 1000,
    rollbackOnFailure: boolInput(agent, Inputs.rollbackOnFailure),
    loadBalancerTimeoutMs: intInput(agent, Inputs.loadBalancerTimeoutSeconds, { min: 10, max: 3600 }) * 1000,
    smokeTest: smokeTestPath === undefined ? undefined : { path: smokeTestPath, ...SMOKE_TEST },
    runAnnotations: runAnnotationsFor(pipelineRunInfoOf(agent)),
    goldenRequests: goldenRequestsInput(agent),
  };
}

/** strategy blueGreen: the generated workload (the task knows both colours and the Service it switches), the API server, and the keep window. */
function blueGreenInput(agent: Agent, deploy: DeployRequest, cluster: ClusterAccessRequest): BlueGreenSettings | undefined {
  if (pickInput(agent, Inputs.strategy) !== 'blueGreen') return undefined;
  const strategy = Inputs.strategy.name;
  if (deploy.workload.kind !== 'generated') {
    throw new InputError(strategy, 'InputInvalid', [strategy, 'blueGreen', "it works with the generated workload (appName, 'manifests' empty): the task then knows both colours' Deployments and the Service whose selector it switches; use rolling with your own manifests"]);
  }
  if (cluster.kind === 'aks' && cluster.privateCluster) {
    throw new InputError(strategy, 'InputInvalid', [strategy, 'blueGreen', 'a private cluster (privateCluster true) is reached only through AKS run command, and blue-green needs the API server to prove the new colour and switch the Service; use rolling']);
  }
  const previewService = boolInput(agent, Inputs.blueGreenPreviewService);
  const appName = deploy.workload.app.appName;
  const preview = `${appName}${PREVIEW_SUFFIX}`;
  if (previewService && preview.length > 63) {
    throw new InputError(Inputs.appName.name, 'InputInvalid', [Inputs.appName.name, appName, `with blueGreenPreviewService the preview Service is named '${preview}', longer than a Service name's 63 characters; shorten appName or turn the preview off`]);
  }
  return { keepMinutes: intInput(agent, Inputs.blueGreenKeepMinutes, { min: 0, max: 10080 }), previewService };
}

function readDeploy(agent: Agent, cluster: ClusterAccessRequest): Omit<DeployTaskInputs, 'settings' | 'cluster'> {
  const namespace = checkedText(agent, Inputs.namespace, dns1123LabelProblem);
  const image = requiredInput(agent, Inputs.image, 'deploying (use $(bake.imageRef), the digest reference Bake Model Into Image outputs)');
  rejectIf(Inputs.image.name, imageProblem(image));
  const rolloutTimeoutSeconds = intInput(agent, Inputs.rolloutTimeoutSeconds, { min: 10, max: 86400 });
  const model = modelAnnotations(agent);
  const imagePullSecret = pullSecretInput(agent);
  const patterns = (textInput(agent, Inputs.manifests) ?? '').split('\n').map((line) => line.trim()).filter(Boolean);
  const { workload, files } = patterns.length > 0
    ? userManifests(agent, patterns, image, model)
    : { workload: { kind: 'generated' as const, app: generatedApp(agent, { namespace, image, model, pullSecret: imagePullSecret?.name, rolloutTimeoutSeconds }) }, files: [] };
  const deploy: DeployRequest = Object.freeze({
    ...rolloutInputs(agent, namespace, rolloutTimeoutSeconds, imagePullSecret),
    image, workload,
    modelCheck: modelCheckInput(agent, model.modelDigest),
    prune: patterns.length > 0 && boolInput(agent, Inputs.prune),
  });
  const provenance = deployProvenanceInput(agent, image, model.modelDigest);
  const canary = canaryInput(agent, deploy);
  const blueGreen = blueGreenInput(agent, deploy, cluster);
  const strategy: Strategy = canary ? { kind: 'canary', settings: canary } : blueGreen ? { kind: 'blueGreen', settings: blueGreen } : ROLLING;
  return { deploy, manifestFiles: files, model, ...(provenance ? { provenance } : {}), ...(canary ? { canary } : {}), strategy };
}

/** action promote or abort: only with strategy canary and the generated workload, on a reachable API server. */
function decisionAction(agent: Agent, cluster: ClusterAccessRequest): CanaryAction | undefined {
  const action = pickInput(agent, Inputs.action);
  if (action === 'deploy') return undefined;
  const name = Inputs.action.name;
  if (pickInput(agent, Inputs.strategy) !== 'canary') {
    throw new InputError(name, 'InputInvalid', [name, action, `${action} finishes a canary that waits for a decision; set ${Inputs.strategy.name} to canary (with rolling, deploy is the only action)`]);
  }
  if ((textInput(agent, Inputs.manifests) ?? '').trim()) {
    throw new InputError(name, 'InputInvalid', [name, action, `canaries work with the generated workload (appName, '${Inputs.manifests.name}' empty)`]);
  }
  if (cluster.kind === 'aks' && cluster.privateCluster) {
    throw new InputError(Inputs.privateCluster.name, 'InputInvalid', [Inputs.privateCluster.name, 'true', `action ${action} reads the canary's state from the API server, which a private cluster's agent cannot reach; run it from an agent that can, with privateCluster false`]);
  }
  return action;
}

/** promote or abort: the app's settings as for a deploy; the image and the model come from the recorded state. */
function readDecision(agent: Agent, action: CanaryAction): Omit<DecideTaskInputs, 'settings' | 'cluster'> {
  const namespace = checkedText(agent, Inputs.namespace, dns1123LabelProblem);
  const image = textInput(agent, Inputs.image);
  if (image !== undefined) rejectIf(Inputs.image.name, imageProblem(image));
  const rolloutTimeoutSeconds = intInput(agent, Inputs.rolloutTimeoutSeconds, { min: 10, max: 86400 });
  const model = modelAnnotations(agent);
  const imagePullSecret = pullSecretInput(agent);
  const app = generatedApp(agent, { namespace, image, model, pullSecret: imagePullSecret?.name, rolloutTimeoutSeconds });
  // The recorded model is checked on the promoted pods, whether or not this run names it.
  const probe = boolInput(agent, Inputs.verifyModel) ? modelProbeInput(agent) : undefined;
  const decision: CanaryDecision = Object.freeze({
    action,
    request: { ...rolloutInputs(agent, namespace, rolloutTimeoutSeconds, imagePullSecret), app },
    ...(image !== undefined ? { expectedImage: image } : {}),
    ...(model.modelDigest !== undefined ? { expectedModelDigest: model.modelDigest } : {}),
    ...(probe ? { modelProbe: probe } : {}),
  });
  let provenance: ProvenanceGate | undefined;
  if (action === 'promote' && boolInput(agent, Inputs.requireProvenance)) {
    const imageInput = requiredInput(agent, Inputs.image, `${Inputs.requireProvenance.name} is true: the image to promote is verified again, and must be the one the canary tests`);
    provenance = deployProvenanceInput(agent, imageInput, model.modelDigest);
  }
  return { decision, model, ...(provenance ? { provenance } : {}) };
}

export function readDeployInputs(agent: Agent): DeployTaskInputs | DecideTaskInputs {
  const cluster = readClusterAccess(agent);
  const settings = deploySettings(connectionTypeOf(cluster));
  // The manifests' own failures (their YAML, the containers to replace) are the core's: named by the table.
  const action = readingInputs(settings, () => decisionAction(agent, cluster));
  if (action) return Object.freeze({ settings, cluster, ...readingInputs(settings, () => readDecision(agent, action)) });
  return Object.freeze({ settings, cluster, ...readingInputs(settings, () => readDeploy(agent, cluster)) });
}
