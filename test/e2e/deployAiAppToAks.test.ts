/**
 * The bundled Deploy task run as the agent runs it (INPUT_*, ENDPOINT_*, ##vso commands), under both
 * handlers, against the cluster simulator over HTTPS whose kubelet pulls from a real registry: an
 * image the registry lacks fails as on AKS (ImagePullBackOff) and is rolled back. The real kubectl
 * checks the result, and every secret the task used is searched for in its output.
 *
 * Against a real cluster: see "Running the Deploy e2e against a real cluster" in README.md.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { handlerNodes } from '../support/node24';
import { pushBaseImage } from '../support/registry/baseImages';
import { registryHolds } from '../support/registry/http';
import { skopeoInspect } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, runTask, type RunTaskOptions, visibleOutput, type TaskRun } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'DeployAiAppToAksV1');
const KUBE_TOKEN = 'e2e-kube-token-7f3a9c';
const pipeline = {
  'Build.BuildId': '77', 'Build.BuildNumber': '20261206.3', 'Build.DefinitionName': 'churn CI', 'System.DefinitionId': '12', 'Agent.JobName': 'Deploy churn',
  'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.CollectionId': 'c0113c71-0000-4000-8000-000000000001', 'System.TeamProject': 'churn ml', 'Build.SourceVersion': 'c0ffee',
};

describe('DeployAiAppToAks e2e (the bundle as the agent runs it)', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let cluster: ClusterSimulator;
  let home: string;
  let goodImage: string;
  let secondImage: string;

  const kubectl = (...args: string[]) => new Promise<string>((resolve, reject) => {
    execFile('kubectl', args, { env: { ...process.env, HOME: home, KUBECONFIG: join(home, 'kubeconfig') }, timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout)));
  });

  before(async () => {
    registry = await startRegistry({ auth: 'basic', tls: true });
    cluster = await startClusterSimulator({
      auth: { token: KUBE_TOKEN },
      imageBehaviour: async (image) => ((await registryHolds(registry, image)) ? 'run' : 'pullError'),
      podReadyDelayMs: 100, loadBalancerDelayMs: 200,
    });
    home = fs.mkdtempSync(join(os.tmpdir(), 'deploy-e2e-'));
    cluster.writeKubeconfig(home);
    for (const tag of ['1', '2']) await pushBaseImage(registry, 'churn-app', tag, tag === '1' ? 'oci' : 'docker');
    const digestOf = async (tag: string) => (await skopeoInspect(registry, `churn-app:${tag}`)).Digest;
    goodImage = `${registry.host}/churn-app@${await digestOf('1')}`;
    secondImage = `${registry.host}/churn-app@${await digestOf('2')}`;
  });
  after(async () => {
    await Promise.all([registry?.stop(), cluster?.stop()]);
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  const endpoints = () => ({
    aks: { url: cluster.url, scheme: 'Kubernetes', parameters: { kubeconfig: cluster.kubeconfig() }, data: { authorizationType: 'Kubeconfig' } },
    acr: { url: `https://${registry.host}`, scheme: 'UsernamePassword', parameters: { registry: `https://${registry.host}`, username: registry.username!, password: registry.password! }, data: { registrytype: 'Others' } },
  });
  const deploy = (inputs: Record<string, string>, nodePath?: string, variables: Record<string, string> = {}, more: Partial<RunTaskOptions> = {}) => runTask({
    ...more, taskDir, nodePath, endpoints: endpoints(), variables: { ...pipeline, ...variables },
    inputs: {
      kubernetesServiceConnection: 'aks', namespace: 'churn', appName: 'churn-app', containerPort: '8080', servicePort: '8080',
      containerRegistry: 'acr', modelVersion: '1.2.0', modelDigest: `sha256:${'d'.repeat(64)}`, rolloutTimeoutSeconds: '60', progressDeadlineSeconds: '5', ...inputs,
    },
  });
  const assertNothingLeaked = (run: TaskRun) => {
    assertNoSecrets(run, {
      'kube token': KUBE_TOKEN, 'registry password': registry.password!,
      'registry basic auth': Buffer.from(`${registry.username}:${registry.password}`).toString('base64'),
      'kubeconfig CA data': Buffer.from(cluster.caPem ?? '').toString('base64').slice(0, 60),
    });
    assert.ok(run.secretsRegistered.includes(KUBE_TOKEN), 'the kube token is registered as a secret');
    assert.ok(run.secretsRegistered.includes(registry.password!), 'the registry password is registered as a secret');
  };

  for (const [index, { handler, nodePath }] of handlerNodes().entries()) {
    it(`deploys the image by digest under ${handler}: rollout watched, address and model reported`, async () => {
      const image = index === 0 ? goodImage : secondImage;
      const run = await deploy({ image }, nodePath);
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.deploymentName, 'churn-app');
      assert.equal(run.outputs.deployedImage, image);
      assert.equal(run.outputs.rolledBack, 'false');
      assert.equal(run.outputs.modelVerified, 'true', 'each pod reported the model digest given (through the pod proxy)');
      assert.match(run.outputs.serviceIp, /^127\.\d+\.\d+\.\d+$/);
      assert.equal(run.outputs.serviceUrl, `http://${run.outputs.serviceIp}:8080`);
      const served = await (await fetch(run.outputs.serviceUrl)).json() as { image: string };
      assert.equal(served.image, image, 'the load balancer serves the new pods');
      const template = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn', '-o', 'json'));
      assert.equal(template.spec.template.spec.containers[0].image, image);
      assert.equal(template.spec.template.metadata.annotations['ai.model.version'], '1.2.0');
      assert.equal(template.metadata.annotations['dev.azure.pipelines.run'], 'https://dev.azure.com/contoso/churn%20ml/_build/results?buildId=77');
      // The traceability annotations Microsoft's Kubernetes tasks write, on every object applied.
      const service = JSON.parse(await kubectl('get', 'service', 'churn-app', '-n', 'churn', '-o', 'json'));
      for (const object of [template, service]) {
        assert.deepEqual(Object.fromEntries(Object.entries(object.metadata.annotations as Record<string, string>).filter(([key]) => key.startsWith('azure-pipelines/'))), {
          'azure-pipelines/execution': '20261206.3', 'azure-pipelines/pipeline': 'churn CI', 'azure-pipelines/pipelineId': '12', 'azure-pipelines/jobName': 'Deploy churn',
          'azure-pipelines/executionuri': 'https://dev.azure.com/contoso/churn%20ml/_build/results?buildId=77', 'azure-pipelines/project': 'churn ml',
          'azure-pipelines/org': 'c0113c71-0000-4000-8000-000000000001',
        });
      }
      assert.equal(template.spec.template.metadata.annotations['azure-pipelines/execution'], undefined, 'never on the pod template, which would restart pods');
      assert.equal(run.outputs.revision, template.metadata.annotations['deployment.kubernetes.io/revision']);
      assert.match(await kubectl('rollout', 'status', 'deployment/churn-app', '-n', 'churn', '--timeout=5s'), /successfully rolled out/);
      const secret = JSON.parse(await kubectl('get', 'secret', 'ai-app-registry', '-n', 'churn', '-o', 'json'));
      assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
      const summary = run.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary');
      assert.ok(summary?.content?.includes(image) && summary.content.includes('1.2.0'), 'the run summary names the image and the model');
      assertNothingLeaked(run);
    });
  }

  it('re-deploying the running digest is a fast no-op that still reports outputs', async () => {
    const before = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn', '-o', 'json'));
    const running = before.spec.template.spec.containers[0].image;
    const run = await deploy({ image: running }, undefined, { 'Build.BuildNumber': '20261206.4', 'Build.BuildId': '78' });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.revision, before.metadata.annotations['deployment.kubernetes.io/revision']);
    const after = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn', '-o', 'json'));
    assert.equal(after.metadata.annotations['azure-pipelines/execution'], '20261206.4', 'the run that last applied it');
    assert.equal(after.metadata.generation, before.metadata.generation, 'new run annotations roll nothing out');
    assert.equal(run.outputs.deployedImage, running);
    assert.ok(run.outputs.serviceUrl);
    assert.match(visibleOutput(run), /already runs this pod template/);
    assert.equal(cluster.list('ReplicaSet', 'churn').length, before.metadata.annotations['deployment.kubernetes.io/revision'] === '1' ? 1 : 2);
  });

  it('rolls back an image the registry never received, and fails saying why', async () => {
    const running = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn', '-o', 'json')).spec.template.spec.containers[0].image;
    const missing = `${registry.host}/churn-app@sha256:${'0'.repeat(64)}`;
    const run = await deploy({ image: missing });
    assert.equal(run.result.status, 'Failed');
    assert.equal(run.outputs.rolledBack, 'true');
    assert.equal(run.outputs.modelVerified, 'false');
    assert.equal(run.outputs.deployedImage, running);
    assert.match(run.result.message, /ImagePullBackOff|ErrImagePull/);
    assert.match(run.result.message, /rolled back/i);
    const now = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn', '-o', 'json'));
    assert.equal(now.spec.template.spec.containers[0].image, running, 'the previous image runs again');
    assert.match(await kubectl('rollout', 'status', 'deployment/churn-app', '-n', 'churn', '--timeout=10s'), /successfully rolled out/);
    const served = await (await fetch(`http://${cluster.loadBalancers()[0].ip}:8080`)).json() as { image: string };
    assert.equal(served.image, running);
    assertNothingLeaked(run);
  });

  it('rolls out an api and a worker Deployment with two images and a StatefulSet; a failing worker rolls all three back; prune removes the StatefulSet once the manifests drop it', async () => {
    await pushBaseImage(registry, 'churn-worker', '1', 'oci');
    const worker = `${registry.host}/churn-worker@${(await skopeoInspect(registry, 'churn-worker:1')).Digest}`;
    const manifests = join(home, 'shop.yaml');
    fs.writeFileSync(manifests, `
apiVersion: v1
kind: ConfigMap
metadata: { name: shop-settings }
data: { THRESHOLD: "0.5" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api }
spec:
  replicas: 2
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec:
      volumes:
      - name: settings
        configMap: { name: shop-settings, defaultMode: 0440 }
      containers:
      - name: api
        image: ${registry.host}/churn-app:placeholder
        ports: [{ containerPort: 8080 }]
        volumeMounts: [{ name: settings, mountPath: /etc/shop }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: worker }
spec:
  replicas: 1
  progressDeadlineSeconds: 5
  selector: { matchLabels: { app: worker } }
  template:
    metadata: { labels: { app: worker } }
    spec:
      containers:
      - { name: worker, image: "${registry.host}/churn-worker:placeholder" }
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: cache }
spec:
  replicas: 2
  serviceName: cache
  selector: { matchLabels: { app: cache } }
  template:
    metadata: { labels: { app: cache } }
    spec:
      containers:
      - { name: cache, image: "${registry.host}/churn-app:placeholder", ports: [{ containerPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api }
spec:
  type: LoadBalancer
  selector: { app: api }
  ports: [{ port: 8085, targetPort: 8080 }]
`);
    const inputs = { namespace: 'shop', manifests, images: `${registry.host}/churn-worker=${worker}`, prune: 'true' };
    const run = await deploy({ ...inputs, image: goodImage });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.deploymentName, 'api', 'the Deployment running image is the primary');
    assert.equal(run.outputs.modelVerified, 'true');
    assert.deepEqual(JSON.parse(run.outputs.workloads).map((w: { name: string; revision: number; images: string[] }) => [w.name, w.revision, w.images]), [['api', 1, [goodImage]], ['worker', 1, [worker]], ['cache', 1, [goodImage]]]);
    const api = JSON.parse(await kubectl('get', 'deployment', 'api', '-n', 'shop', '-o', 'json'));
    assert.equal(api.spec.template.spec.containers[0].image, goodImage);
    assert.equal(api.spec.template.spec.volumes[0].configMap.defaultMode, 288, 'YAML 1.1 octal 0440, as kubectl reads it');
    assert.equal(JSON.parse(await kubectl('get', 'deployment', 'worker', '-n', 'shop', '-o', 'json')).spec.template.spec.containers[0].image, worker);
    for (const name of ['api', 'worker']) assert.match(await kubectl('rollout', 'status', `deployment/${name}`, '-n', 'shop', '--timeout=5s'), /successfully rolled out/);
    assert.match(await kubectl('rollout', 'status', 'statefulset/cache', '-n', 'shop', '--timeout=5s'), /partitioned roll out complete: 2 new pods have been updated/);

    const missing = `${registry.host}/churn-worker@sha256:${'0'.repeat(64)}`;
    const failed = await deploy({ ...inputs, image: secondImage, images: `${registry.host}/churn-worker=${missing}` });
    assert.equal(failed.result.status, 'Failed');
    assert.equal(failed.outputs.deploymentName, 'worker');
    assert.equal(failed.outputs.rolledBack, 'true');
    assert.match(failed.result.message, /ImagePullBackOff|ErrImagePull/);
    const images = async (name: string) => JSON.parse(await kubectl('get', 'deployment', name, '-n', 'shop', '-o', 'json')).spec.template.spec.containers[0].image;
    assert.equal(await images('worker'), worker);
    assert.equal(await images('api'), goodImage, 'the api, whose rollout succeeded, is rolled back too');
    const cache = JSON.parse(await kubectl('get', 'statefulset', 'cache', '-n', 'shop', '-o', 'json'));
    assert.equal(cache.spec.template.spec.containers[0].image, goodImage, 'the StatefulSet too');
    assert.match(await kubectl('rollout', 'status', 'statefulset/cache', '-n', 'shop', '--timeout=10s'), /partitioned roll out complete: 2 new pods have been updated/);
    for (const name of ['api', 'worker']) assert.match(await kubectl('rollout', 'status', `deployment/${name}`, '-n', 'shop', '--timeout=10s'), /successfully rolled out/);
    assertNothingLeaked(failed);

    // The StatefulSet leaves the manifests: with prune, the next successful run deletes it.
    const withoutCache = join(home, 'shop-without-cache.yaml');
    fs.writeFileSync(withoutCache, fs.readFileSync(manifests, 'utf8').split('\n---\n').filter((document) => !/name: cache/.test(document)).join('\n---\n'));
    const pruned = await deploy({ ...inputs, manifests: withoutCache, image: goodImage });
    assert.equal(pruned.result.status, 'Succeeded', visibleOutput(pruned));
    assert.match(visibleOutput(pruned), /Pruned StatefulSet 'cache' in namespace 'shop'/);
    assert.deepEqual(JSON.parse(await kubectl('get', 'statefulsets', '-n', 'shop', '-o', 'json')).items, []);
    assert.deepEqual(JSON.parse(await kubectl('get', 'deployments', '-n', 'shop', '-o', 'json')).items.map((item: { metadata: { name: string } }) => item.metadata.name).sort(), ['api', 'worker']);
  });

  it('blueGreen: a first run deploys blue, the next switches the Service to green in one apply, an image that never runs is not switched to', async () => {
    const blueGreen = { strategy: 'blueGreen', namespace: 'churn-bg', blueGreenKeepMinutes: '15' };
    const selector = async () => JSON.parse(await kubectl('get', 'service', 'churn-app', '-n', 'churn-bg', '-o', 'jsonpath={.spec.selector}')) as Record<string, string>;
    const first = await deploy({ ...blueGreen, image: goodImage });
    assert.equal(first.result.status, 'Succeeded', visibleOutput(first));
    assert.deepEqual([first.outputs.verdict, first.outputs.activeColor, first.outputs.deploymentName], ['promoted', 'blue', 'churn-app']);
    assert.match(visibleOutput(first), /nothing serves to switch from/);

    const second = await deploy({ ...blueGreen, image: secondImage });
    assert.equal(second.result.status, 'Succeeded', visibleOutput(second));
    assert.deepEqual([second.outputs.verdict, second.outputs.activeColor, second.outputs.deploymentName, second.outputs.deployedImage], ['promoted', 'green', 'churn-app-green', secondImage]);
    assert.equal(second.outputs.modelVerified, 'true');
    assert.deepEqual(await selector(), { 'ai-model-delivery-tasks/app': 'churn-app', 'ai-model-delivery-tasks/color': 'green' });
    const served = await (await fetch(second.outputs.serviceUrl)).json() as { image: string };
    assert.equal(served.image, secondImage, 'the load balancer serves green');
    const blue = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn-bg', '-o', 'json'));
    assert.equal(blue.spec.template.spec.containers[0].image, goodImage, 'blue still runs the previous image');
    assert.ok(Date.parse(blue.metadata.annotations['ai-model-delivery-tasks/keep-until']) > Date.now() + 14 * 60_000);
    const summary = second.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary' && attachment.content?.includes('Blue-green'));
    assert.match(summary?.content ?? '', /Serving now \| `green \(churn-app-green\)`/);

    const missing = `${registry.host}/churn-app@sha256:${'e'.repeat(64)}`;
    const third = await deploy({ ...blueGreen, image: missing, rolloutTimeoutSeconds: '20' });
    assert.equal(third.result.status, 'Failed', visibleOutput(third));
    assert.deepEqual([third.outputs.verdict, third.outputs.activeColor], ['aborted', 'green']);
    assert.match(third.result.message ?? visibleOutput(third), /was not switched to \(verdict: aborted, at the rollout check\)/);
    assert.deepEqual(await selector(), { 'ai-model-delivery-tasks/app': 'churn-app', 'ai-model-delivery-tasks/color': 'green' });
    assert.equal(JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn-bg', '-o', 'json')).spec.replicas, 0, 'the failed colour is scaled down');
    assertNothingLeaked(third);
  });

  it('deploys a canary that waits for a decision, then promotes it in a second task run from the annotations alone', async () => {
    const namespace = 'later';
    const golden = join(home, 'golden-version.jsonl');
    fs.writeFileSync(golden, `${JSON.stringify({ path: '/version', method: 'GET', expect: { model_version: '1.2.0', model_digest: `sha256:${'d'.repeat(64)}` } })}\n`);
    const first = await deploy({ namespace, image: goodImage });
    assert.equal(first.result.status, 'Succeeded', visibleOutput(first));
    const canary = { namespace, strategy: 'canary', goldenRequests: golden, canarySteps: '50%:10s', canaryRequestRate: '5' };
    const started = await deploy({ ...canary, image: secondImage, canaryDecision: 'manual' }, undefined, { 'Build.BuildNumber': '20261207.1', 'Build.BuildId': '90' });
    assert.equal(started.result.status, 'Succeeded', visibleOutput(started));
    assert.equal(started.outputs.verdict, 'pending');
    assert.match(started.result.message, /waits for a decision at step 1 of 1 \(50%\): the analysis says pass and recommends promote/);
    assert.match(started.outputs.analysisReport, /canary-churn-app-\d+\.json$/);
    const table = started.attachments.find((attachment) => attachment.name === 'Canary analysis')?.content ?? '';
    assert.match(table, /Verdict: \*\*pending\*\*/);
    assert.match(table, /The analysis recommends: \*\*promote\*\*/);
    const waiting = JSON.parse(await kubectl('get', 'deployment', 'churn-app-canary', '-n', namespace, '-o', 'json'));
    const state = JSON.parse(waiting.metadata.annotations['ai-model-delivery-tasks/canary-state']);
    assert.equal(state.image, secondImage);
    assert.equal(state.run['azure-pipelines/execution'], '20261207.1');
    assert.equal(JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', namespace, '-o', 'json')).spec.template.spec.containers[0].image, goodImage);
    assertNothingLeaked(started);

    // The decision: another task run (a later job), no image given, nothing carried over but the cluster.
    const promoted = await deploy({ namespace, strategy: 'canary', action: 'promote', image: '' }, undefined, { 'Build.BuildNumber': '20261207.1', 'Build.BuildId': '90', 'Agent.JobName': 'Promote churn' });
    assert.equal(promoted.result.status, 'Succeeded', visibleOutput(promoted));
    assert.equal(promoted.outputs.verdict, 'promoted');
    assert.equal(promoted.outputs.deployedImage, secondImage);
    assert.equal(promoted.outputs.modelVerified, 'true');
    assert.equal(JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', namespace, '-o', 'json')).spec.template.spec.containers[0].image, secondImage);
    assert.deepEqual(JSON.parse(await kubectl('get', 'deployments', '-n', namespace, '-o', 'json')).items.map((item: { metadata: { name: string } }) => item.metadata.name), ['churn-app']);
    const decided = promoted.attachments.find((attachment) => attachment.name === 'Canary decision');
    assert.match(decided?.content ?? '', /Recommended|recommending promote/);
    assertNothingLeaked(promoted);

    const again = await deploy({ namespace, strategy: 'canary', action: 'promote', image: '' });
    assert.equal(again.result.status, 'Failed');
    assert.match(again.result.message, /No canary waits for a decision in namespace 'later'/);
  });

  it('a first canary (nothing to compare with) rolls out directly and says so; a canary cancelled mid-step leaves no track behind', async () => {
    const namespace = 'cancel-canary';
    const golden = join(home, 'golden-cancel.jsonl');
    fs.writeFileSync(golden, `${JSON.stringify({ path: '/version', method: 'GET', expect: { model_version: '1.2.0', model_digest: `sha256:${'d'.repeat(64)}` } })}\n`);
    const canary = { namespace, strategy: 'canary', goldenRequests: golden, canarySteps: '50%:60s', canaryRequestRate: '5' };
    const first = await deploy({ ...canary, image: goodImage }, undefined, {}, { keepFolders: true });
    after(() => first.cleanup());
    assert.equal(first.result.status, 'Succeeded', visibleOutput(first));
    assert.equal(first.outputs.verdict, 'promoted');
    assert.match(visibleOutput(first), /no running model to compare a canary with, so the new image is rolled out directly/);
    const report = JSON.parse(fs.readFileSync(first.outputs.analysisReport, 'utf8'));
    assert.equal(report.baseline, 'none');
    assert.deepEqual(report.steps, []);
    assert.match(first.attachments.find((attachment) => attachment.name === 'Canary analysis')?.content ?? '', /rolled out directly, without canary steps/);
    const generation = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', namespace, '-o', 'json')).metadata.generation;

    const run = await deploy({ ...canary, image: secondImage }, undefined, {}, { cancelWhen: { line: new RegExp(`churn-app-baseline' in namespace '${namespace}' rolled out`) } });
    assert.equal(run.result.status, 'Cancelled', visibleOutput(run));
    assert.match(visibleOutput(run), /stopped before its verdict .*removing its tracks 'churn-app-canary' and 'churn-app-baseline'/);
    assert.match(visibleOutput(run), /Removed deployment 'churn-app-canary'/);
    const left = JSON.parse(await kubectl('get', 'deployments', '-n', namespace, '-o', 'json')).items.map((item: { metadata: { name: string } }) => item.metadata.name);
    assert.deepEqual(left, ['churn-app'], 'kubectl shows no track left');
    const stable = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', namespace, '-o', 'json'));
    assert.equal(stable.metadata.generation, generation);
    assert.equal(stable.spec.template.spec.containers[0].image, goodImage);
    assertNothingLeaked(run);
  });

  it('fails on a malformed kubeconfig without printing it', async () => {
    const broken = `${cluster.kubeconfig().replace('clusters:', 'clusters: [')}\n`;
    const run = await runTask({
      taskDir, variables: pipeline, inputs: { kubernetesServiceConnection: 'aks', image: goodImage, appName: 'churn-app' },
      endpoints: { aks: { url: cluster.url, scheme: 'Kubernetes', parameters: { kubeconfig: broken }, data: { authorizationType: 'Kubeconfig' } } },
    });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message, /kubernetesServiceConnection/);
    assertNoSecrets(run, { 'kube token': KUBE_TOKEN });
  });
});
