/**
 * The demo's last act: the bundled Deploy AI App To AKS task rolls the baked images out to a
 * simulated AKS cluster (HTTPS, bearer token) whose kubelet runs real containers: each image is
 * pulled from the demo's registry (verified by digest), unpacked and run with runc, so the pods are
 * the sample app serving the fetched model. Deploy proves the model each pod serves (its digest,
 * then the sample's golden requests), and a real POST /score goes through the load balancer.
 * Then what goes wrong in real life: an image that was never pushed, a model that predicts a
 * constant, and an image that reports another model's digest. Each is caught and rolled back.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCluster } from '../tasks/common/kube/cluster';
import { callPod, servingPods } from '../tasks/common/kube/podProxy';
import type { DeploymentLike } from '../tasks/common/kube/rolloutStatus';
import { silentLog } from '../tasks/common/log';
import { type ClusterSimulator, startClusterSimulator } from '../test/support/cluster';
import type { TestRegistry } from '../test/support/registry/registry';
import { writeConstantPredictor } from '../test/support/runtimeRig';
import { testNetwork } from '../test/support/services';
import { runTask, type TaskRun, type TaskStatus } from '../test/support/taskRunner';

const deployDir = join(__dirname, '..', 'dist', 'tasks', 'DeployAiAppToAksV1');
const GOLDEN = join(__dirname, '..', 'samples', 'flask-app', 'golden-requests.jsonl');
const KUBE_TOKEN = 'demo-aks-token';
const REPORTS = mkdtempSync(join(tmpdir(), 'demo-canary-'));
const pipeline = { 'System.Debug': 'false', 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'c0ffee' };
/** A customer the churn model should flag: new, expensive, many support calls, monthly contract. */
const CUSTOMER = { instances: [{ tenure_months: 3, monthly_charges: 99.5, support_calls: 4, month_to_month: 1, senior: 0 }] };

export type Show = (title: string, run: TaskRun, expected?: TaskStatus) => void;
export type Bake = (fetched: TaskRun, tag: string, note: string, model: Partial<Record<'modelPath' | 'modelVersion' | 'modelDigest', string>>) => Promise<TaskRun>;

/** One approved model and the image it was baked into. */
export interface Release {
  readonly fetched: TaskRun;
  readonly baked: TaskRun;
}

function deploy(cluster: ClusterSimulator, image: string, fetched: TaskRun, buildId: string, extra: Record<string, string> = {}): Promise<TaskRun> {
  return runTask({
    taskDir: deployDir,
    endpoints: { aks: { url: cluster.url, scheme: 'Kubernetes', parameters: { kubeconfig: cluster.kubeconfig() }, data: { authorizationType: 'Kubeconfig' } } },
    inputs: {
      kubernetesServiceConnection: 'aks', namespace: 'churn', appName: 'churn-app', image,
      containerPort: '5000', servicePort: '8080', readinessPath: '/healthz', rolloutTimeoutSeconds: '90',
      modelVersion: fetched.outputs.modelVersion, modelDigest: fetched.outputs.modelDigest, goldenRequests: GOLDEN, ...extra,
    },
    // A temp folder that outlives the run, so the demo can read the canary's analysisReport after it.
    variables: { ...pipeline, 'Build.BuildId': buildId, 'Agent.TempDirectory': REPORTS },
  });
}

/** A real prediction through the load balancer, printed as sent and as answered. */
async function score(url: string): Promise<{ model_version: string; model_digest: string }> {
  const body = JSON.stringify(CUSTOMER);
  const answer = await fetch(`${url}/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await answer.text();
  console.log(`  POST ${url}/score ${body}`);
  console.log(`  -> HTTP ${answer.status} ${text.trim()}`);
  if (answer.status !== 200) throw new Error(`the app answered /score with HTTP ${answer.status}`);
  return JSON.parse(text) as { model_version: string; model_digest: string };
}

/** Which model digest each ready pod serves, asked through the API server's pod proxy. */
async function podDigests(cluster: ClusterSimulator): Promise<string[]> {
  const kube = connectCluster(cluster.kubeconfig(), { network: testNetwork });
  try {
    const deployment = await kube.apps.readNamespacedDeployment({ name: 'churn-app', namespace: 'churn' });
    const image = deployment.spec?.template.spec?.containers[0].image ?? '';
    const pods = await servingPods(kube, 'churn', deployment as DeploymentLike, image, { log: silentLog });
    return Promise.all(pods.map(async (pod) => {
      const reply = await callPod(kube, pod, pod.port ?? 5000, { method: 'GET', path: '/version' }, 10_000);
      const { model_version: version, model_digest: digest } = reply.body as { model_version: string; model_digest: string };
      return `pod ${pod.name} serves model ${version} (${digest})`;
    }));
  } finally {
    kube.close();
  }
}

function outputs(run: TaskRun, names: string[]): void {
  for (const name of names) console.log(`  ${name.padEnd(13)} ${run.outputs[name] ?? ''}`);
}

/** Runs the deployments and returns the lines of the final report. */
export async function deployDemo(registry: TestRegistry, releases: readonly [Release, Release], show: Show, bake: Bake, work: string): Promise<string[]> {
  const cluster = await startClusterSimulator({ auth: { token: KUBE_TOKEN }, loadBalancerDelayMs: 300, runtime: { registry, workDir: work } });
  try {
    console.log(`\nAKS (cluster simulator) at ${cluster.url}: HTTPS, bearer token; its kubelet pulls from ${registry.host} and runs pods with runc`);
    const [one, two] = releases;
    const first = await deploy(cluster, one.baked.outputs.imageRef, one.fetched, '101');
    show(`DeployAiAppToAks@1 (model ${one.fetched.outputs.modelVersion})`, first);
    console.log('Output variables a later step reads as $(deploy.<name>):');
    outputs(first, ['deploymentName', 'revision', 'deployedImage', 'serviceUrl', 'modelVerified', 'rolledBack']);
    await score(first.outputs.serviceUrl);

    console.log(`\nModel ${two.fetched.outputs.modelVersion} was baked into a new image; the next run deploys it as a canary (one 10 s step at 50 %), compared with model ${one.fetched.outputs.modelVersion} on the golden requests:`);
    const second = await deploy(cluster, two.baked.outputs.imageRef, two.fetched, '102', CANARY);
    show(`DeployAiAppToAks@1 (model ${two.fetched.outputs.modelVersion}, canary)`, second);
    outputs(second, ['verdict', 'revision', 'deployedImage', 'modelVerified']);
    printCanaryReport(second);
    if (second.outputs.verdict !== 'promoted') throw new Error(`the canary of model ${two.fetched.outputs.modelVersion} was ${second.outputs.verdict}, not promoted`);
    const served = await score(second.outputs.serviceUrl);
    if (served.model_digest !== two.fetched.outputs.modelDigest) throw new Error(`/score was answered by model ${served.model_digest}, not ${two.fetched.outputs.modelDigest}`);

    const broken = await deployBroken(cluster, registry, two, show);
    const [constant, constantImage] = await deployConstant(cluster, two, show, bake, work);
    const constantCanary = await canaryConstant(cluster, two, constantImage, show);
    const mislabeled = await deployMislabeled(cluster, one, two, show, bake);
    console.log('\nAfter the three rollbacks, the previous model still answers:');
    const after = await score(second.outputs.serviceUrl);
    if (after.model_digest !== two.fetched.outputs.modelDigest) throw new Error(`after the rollbacks the app serves model ${after.model_digest}, not ${two.fetched.outputs.modelDigest}`);
    const pods = await podDigests(cluster);
    const blueGreen = await blueGreenScenes(cluster, one, two, constantImage, show);
    return [
      `\nDeployed model ${one.fetched.outputs.modelVersion} as revision ${first.outputs.revision} at ${first.outputs.serviceUrl} in ${s(first)}; ` +
        `model ${two.fetched.outputs.modelVersion} as revision ${second.outputs.revision} in ${s(second)}; both proven (modelVerified=${second.outputs.modelVerified}).`,
      `Caught and rolled back: the never-pushed image in ${s(broken)}, the constant predictor (golden requests) in ${s(constant)}, ` +
        `the image reporting another model's digest (model check) in ${s(mislabeled)}.`,
      `Canary: model ${two.fetched.outputs.modelVersion} promoted in ${s(second)}; the constant predictor's canary aborted in ${s(constantCanary)} with the Deployment untouched.`,
      ...pods,
      ...blueGreen,
    ];
  } finally {
    await cluster.stop();
  }
}

function caught(run: TaskRun, title: string, show: Show, lines = 3): void {
  show(title, run, 'Failed');
  console.log('Its failure message (trimmed):');
  for (const line of trim(run.result.message, lines)) console.log(`  ! ${line}`);
  outputs(run, ['rolledBack', 'revision', 'modelVerified']);
  if (run.outputs.rolledBack !== 'true') throw new Error(`${title} was not rolled back`);
}

/** An image digest the registry never received: ImagePullBackOff, progress deadline, rollback. */
async function deployBroken(cluster: ClusterSimulator, registry: TestRegistry, running: Release, show: Show): Promise<TaskRun> {
  const missing = `${registry.host}/churn-app@sha256:${'0'.repeat(64)}`;
  console.log(`\nA typo'd pipeline deploys ${missing} (never pushed), with progressDeadlineSeconds 5:`);
  const run = await deploy(cluster, missing, running.fetched, '103', { progressDeadlineSeconds: '5' });
  caught(run, 'DeployAiAppToAks@1 (broken image)', show, 6);
  return run;
}

/** A model that loads and answers, but the same for everyone: the golden requests catch it. */
async function deployConstant(cluster: ClusterSimulator, running: Release, show: Show, bake: Bake, work: string): Promise<[TaskRun, { image: string; digest: string }]> {
  const folder = join(work, 'constant-model');
  const digest = writeConstantPredictor(running.fetched.outputs.modelPath, folder);
  console.log('\nA training bug ships churn 9.9.9, a model that predicts 0.5 for every customer:');
  const baked = await bake(running.fetched, '104', ' (constant predictor)', { modelPath: folder, modelVersion: '9.9.9', modelDigest: digest });
  const run = await deploy(cluster, baked.outputs.imageRef, running.fetched, '104', { modelVersion: '9.9.9', modelDigest: digest });
  caught(run, 'DeployAiAppToAks@1 (constant predictor)', show);
  return [run, { image: baked.outputs.imageRef, digest }];
}

/** The canary inputs of the demo: one short step, so it adds seconds, not minutes. */
const CANARY = { strategy: 'canary', canarySteps: '50%:10s', canaryRequestRate: '5' };

/** The same constant predictor as a canary: judged against the running model, aborted, the Deployment untouched. */
async function canaryConstant(cluster: ClusterSimulator, running: Release, constant: { image: string; digest: string }, show: Show): Promise<TaskRun> {
  console.log('\nThe same constant predictor, released as a canary instead:');
  const generation = (cluster.get('Deployment', 'churn', 'churn-app') as { metadata: { generation: number } }).metadata.generation;
  const run = await deploy(cluster, constant.image, running.fetched, '106', { ...CANARY, modelVersion: '9.9.9', modelDigest: constant.digest });
  show('DeployAiAppToAks@1 (constant predictor, canary)', run, 'Failed');
  outputs(run, ['verdict', 'analysisReport']);
  printCanaryReport(run);
  const after = (cluster.get('Deployment', 'churn', 'churn-app') as { metadata: { generation: number } }).metadata.generation;
  console.log(`  Deployment churn-app generation before ${generation}, after ${after}`);
  if (run.outputs.verdict !== 'aborted' || after !== generation) throw new Error('the constant predictor\'s canary was not aborted cleanly');
  return run;
}

/** The analysisReport's numbers, one line per step. */
function printCanaryReport(run: TaskRun): void {
  const report = JSON.parse(readFileSync(run.outputs.analysisReport ?? '', 'utf8')) as {
    steps: { index: number; percent: number; seconds: number; verdict: string; checks: { check: string; verdict: string; pValue?: number; canaryRate?: number; baselineRate?: number; canaryMedianMs?: number; baselineMedianMs?: number; detail?: string }[]; samples: { canary: { requests: number }; baseline: { requests: number } } }[];
  };
  for (const step of report.steps) {
    const check = (name: string) => step.checks.find((c) => c.check === name)!;
    const errors = check('errorRate');
    const latency = check('latency');
    const pct = (value = 0) => `${(value * 100).toFixed(0)}%`;
    console.log(`  step ${step.index + 1} (${step.percent}%, ${step.seconds} s): ${step.verdict}; ${step.samples.canary.requests}/${step.samples.baseline.requests} requests; ` +
      `errors canary ${pct(errors.canaryRate)} vs baseline ${pct(errors.baselineRate)} (p ${errors.pValue?.toPrecision(2)}, ${errors.verdict}); ` +
      `median latency ${latency.canaryMedianMs?.toFixed(1)} vs ${latency.baselineMedianMs?.toFixed(1)} ms (p ${latency.pValue?.toPrecision(2)}, ${latency.verdict}); model check ${check('model').verdict}`);
  }
}

/** An image that serves another model than the pipeline deploys (a stale variable at bake time): the model check catches it. */
/** The blue-green inputs of the demo: the old colour kept 30 minutes, a preview Service in front of the new one. */
const BLUE_GREEN = { strategy: 'blueGreen', blueGreenKeepMinutes: '30', blueGreenPreviewService: 'true' };

function selectorOf(cluster: ClusterSimulator): string {
  const service = cluster.get('Service', 'churn', 'churn-app') as { spec: { selector: Record<string, string> } };
  return Object.entries(service.spec.selector).map(([key, value]) => `${key}=${value}`).join(',');
}

/**
 * Blue-green: the constant predictor is proven through the pod proxy in the colour not serving and
 * never switched to; then model one (the team goes back to it) is switched to in one apply, the
 * old colour kept running. Returns the report's lines.
 */
async function blueGreenScenes(cluster: ClusterSimulator, one: Release, two: Release, constant: { image: string; digest: string }, show: Show): Promise<string[]> {
  console.log(`\nBlue-green: the constant predictor again, into the colour that is not serving; the Service selects ${selectorOf(cluster)}:`);
  const generation = (cluster.get('Deployment', 'churn', 'churn-app') as { metadata: { generation: number } }).metadata.generation;
  const refused = await deploy(cluster, constant.image, two.fetched, '107', { ...BLUE_GREEN, modelVersion: '9.9.9', modelDigest: constant.digest });
  show('DeployAiAppToAks@1 (constant predictor, blueGreen)', refused, 'Failed');
  outputs(refused, ['verdict', 'activeColor']);
  for (const line of trim(refused.result.message, 2)) console.log(`  ! ${line}`);
  const after = (cluster.get('Deployment', 'churn', 'churn-app') as { metadata: { generation: number } }).metadata.generation;
  console.log(`  Service selects ${selectorOf(cluster)}; Deployment churn-app generation before ${generation}, after ${after}`);
  if (refused.outputs.verdict !== 'aborted' || after !== generation) throw new Error('the constant predictor was switched to, or the serving colour was touched');

  console.log(`\nBlue-green: the team goes back to model ${one.fetched.outputs.modelVersion}; it is proven in the new colour, then the Service switches to it in one apply:`);
  const switched = await deploy(cluster, one.baked.outputs.imageRef, one.fetched, '108', BLUE_GREEN);
  show(`DeployAiAppToAks@1 (model ${one.fetched.outputs.modelVersion}, blueGreen)`, switched);
  outputs(switched, ['verdict', 'activeColor', 'deploymentName', 'deployedImage', 'modelVerified', 'serviceUrl']);
  console.log(`  Service selects ${selectorOf(cluster)}`);
  const kept = cluster.get('Deployment', 'churn', 'churn-app') as { spec: { replicas: number }; metadata: { annotations: Record<string, string> } };
  console.log(`  the old colour, Deployment churn-app: ${kept.spec.replicas} replicas, keep-until ${kept.metadata.annotations['ai-model-delivery-tasks/keep-until']}`);
  if (switched.outputs.verdict !== 'promoted' || switched.outputs.activeColor !== 'green') throw new Error(`the blue-green switch to model ${one.fetched.outputs.modelVersion} did not happen`);
  const served = await score(switched.outputs.serviceUrl);
  if (served.model_digest !== one.fetched.outputs.modelDigest) throw new Error(`after the switch /score was answered by model ${served.model_digest}, not ${one.fetched.outputs.modelDigest}`);
  return [
    `Blue-green: the constant predictor was never switched to (${s(refused)}, Service and Deployment untouched); ` +
      `model ${one.fetched.outputs.modelVersion} was switched to on ${switched.outputs.activeColor} in ${s(switched)}, the old colour kept for 30 minutes.`,
  ];
}

async function deployMislabeled(cluster: ClusterSimulator, old: Release, running: Release, show: Show, bake: Bake): Promise<TaskRun> {
  console.log(`\nA stale variable bakes model ${old.fetched.outputs.modelVersion} where ${running.fetched.outputs.modelVersion} was meant; the release deploys it as ${running.fetched.outputs.modelVersion}:`);
  const baked = await bake(old.fetched, '105', ' (stale model)', {});
  const run = await deploy(cluster, baked.outputs.imageRef, running.fetched, '105');
  caught(run, 'DeployAiAppToAks@1 (image reporting another digest)', show);
  return run;
}

/** The headline in full (wrapped), then the first diagnostics lines, digests shortened to stay readable. */
function trim(message: string, maxLines: number): string[] {
  const lines = message.split('\n').filter((line) => line.trim()).map((line) => line.replace(/(sha256:[a-f0-9]{12})[a-f0-9]{52}/g, '$1...'));
  const headline = lines[0].match(/.{1,140}(\s|$)/g)?.map((part) => part.trimEnd()) ?? [lines[0]];
  const rest = lines.slice(1, maxLines).map((line) => (line.length > 160 ? `${line.slice(0, 157)}...` : line));
  return lines.length > maxLines ? [...headline, ...rest, `(${lines.length - maxLines} more lines)`] : [...headline, ...rest];
}

const s = (run: TaskRun) => `${(run.durationMs / 1000).toFixed(2)} s`;
