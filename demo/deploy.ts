/**
 * The demo's last act: the bundled Deploy AI App To AKS task rolls the baked images out to a
 * simulated AKS cluster (HTTPS, bearer token), with Bake's imageRef and Fetch's model outputs as
 * its inputs. The cluster's "kubelet" asks the demo's registry whether it holds each image, so an
 * image the registry never received fails as on AKS (ImagePullBackOff) and is rolled back.
 */
import { join } from 'node:path';
import { type ClusterSimulator, startClusterSimulator } from '../test/support/cluster';
import { registryHolds } from '../test/support/registry/http';
import type { TestRegistry } from '../test/support/registry/registry';
import { runTask, type TaskRun, type TaskStatus } from '../test/support/taskRunner';

const deployDir = join(__dirname, '..', 'dist', 'tasks', 'DeployAiAppToAksV1');
const KUBE_TOKEN = 'demo-aks-token';
const pipeline = { 'System.Debug': 'false', 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'c0ffee' };

export type Show = (title: string, run: TaskRun, expected?: TaskStatus) => void;

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
      containerPort: '8080', servicePort: '8080', readinessPath: '/healthz', rolloutTimeoutSeconds: '60',
      modelVersion: fetched.outputs.modelVersion, modelDigest: fetched.outputs.modelDigest, ...extra,
    },
    variables: { ...pipeline, 'Build.BuildId': buildId },
  });
}

/** What the load balancer answers: the pod that served and the image it runs. */
async function served(url: string): Promise<{ pod: string; image: string }> {
  const answer = await (await fetch(url)).json() as { pod: string; image: string };
  console.log(`  GET ${url} -> pod ${answer.pod}, image ${answer.image}`);
  return answer;
}

function outputs(run: TaskRun, names: string[]): void {
  for (const name of names) console.log(`  ${name.padEnd(13)} ${run.outputs[name] ?? ''}`);
}

/** Runs the three deployments and returns the lines of the final report. */
export async function deployDemo(registry: TestRegistry, releases: readonly [Release, Release], show: Show): Promise<string[]> {
  const cluster = await startClusterSimulator({
    auth: { token: KUBE_TOKEN },
    imageBehaviour: async (image) => ((await registryHolds(registry, image)) ? 'run' : 'pullError'),
    podReadyDelayMs: 300, loadBalancerDelayMs: 500,
  });
  try {
    console.log(`\nAKS (cluster simulator) at ${cluster.url}: HTTPS, bearer token; its kubelet pulls from ${registry.host}`);
    const [one, two] = releases;
    const first = await deploy(cluster, one.baked.outputs.imageRef, one.fetched, '101');
    show(`DeployAiAppToAks@1 (model ${one.fetched.outputs.modelVersion})`, first);
    console.log('Output variables a later step reads as $(deploy.<name>):');
    outputs(first, ['deploymentName', 'revision', 'deployedImage', 'serviceIp', 'serviceUrl', 'rolledBack']);
    await served(first.outputs.serviceUrl);

    console.log(`\nModel ${two.fetched.outputs.modelVersion} was baked into a new image; the next run deploys it:`);
    const second = await deploy(cluster, two.baked.outputs.imageRef, two.fetched, '102');
    show(`DeployAiAppToAks@1 (model ${two.fetched.outputs.modelVersion})`, second);
    outputs(second, ['revision', 'deployedImage', 'serviceUrl']);
    await served(second.outputs.serviceUrl);

    const broken = await deployBroken(cluster, registry, two, show);
    const after = await served(second.outputs.serviceUrl);
    if (after.image !== two.baked.outputs.imageRef) throw new Error(`after the rollback the app serves ${after.image}, not ${two.baked.outputs.imageRef}`);
    return [
      `Deployed model ${one.fetched.outputs.modelVersion} (${digestOf(first)}) as revision ${first.outputs.revision} at ${first.outputs.serviceUrl} in ${s(first)}; ` +
        `model ${two.fetched.outputs.modelVersion} (${digestOf(second)}) as revision ${second.outputs.revision} in ${s(second)}.`,
      `The broken image failed and was rolled back in ${s(broken)} (rolledBack=${broken.outputs.rolledBack}, revision ${broken.outputs.revision}); ` +
        `${second.outputs.serviceUrl} still serves model ${two.fetched.outputs.modelVersion}'s image.`,
    ];
  } finally {
    await cluster.stop();
  }
}

/** An image digest the registry never received: ImagePullBackOff, progress deadline, rollback. */
async function deployBroken(cluster: ClusterSimulator, registry: TestRegistry, running: Release, show: Show): Promise<TaskRun> {
  const missing = `${registry.host}/churn-app@sha256:${'0'.repeat(64)}`;
  console.log(`\nA typo'd pipeline deploys ${missing} (never pushed), with progressDeadlineSeconds 5:`);
  const run = await deploy(cluster, missing, running.fetched, '103', { progressDeadlineSeconds: '5' });
  show('DeployAiAppToAks@1 (broken image)', run, 'Failed');
  console.log('Its failure message (trimmed):');
  for (const line of trim(run.result.message, 6)) console.log(`  ! ${line}`);
  outputs(run, ['rolledBack', 'revision', 'deployedImage']);
  if (run.outputs.rolledBack !== 'true') throw new Error('the broken deployment was not rolled back');
  return run;
}

/** The headline in full (wrapped), then the first diagnostics lines, digests shortened to stay readable. */
function trim(message: string, maxLines: number): string[] {
  const lines = message.split('\n').filter((line) => line.trim()).map((line) => line.replace(/(sha256:[a-f0-9]{12})[a-f0-9]{52}/g, '$1...'));
  const headline = lines[0].match(/.{1,140}(\s|$)/g)?.map((part) => part.trimEnd()) ?? [lines[0]];
  const rest = lines.slice(1, maxLines).map((line) => (line.length > 160 ? `${line.slice(0, 157)}...` : line));
  return lines.length > maxLines ? [...headline, ...rest, `(${lines.length - maxLines} more lines)`] : [...headline, ...rest];
}

const digestOf = (run: TaskRun) => `${run.outputs.deployedImage.split('@')[1]?.slice(0, 19)}...`;
const s = (run: TaskRun) => `${(run.durationMs / 1000).toFixed(2)} s`;
