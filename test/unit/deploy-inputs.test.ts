/**
 * DeployAiAppToAks@1 inputs: what a pipeline author types becomes one checked value, and every
 * unusable value fails before anything talks to the cluster, naming the input, the value and what
 * is accepted.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeployAiAppToAksInputs } from '../../tasks/common/contract/deployAiAppToAks';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { deploySettings, progressDeadlineFor, readDeployInputs } from '../../tasks/common/pipeline/deployInputs';
import { connectionTypeOf } from '../../tasks/common/pipeline/kubeConnection';
import { fakeAgent } from '../support/fakeAgent';

const digest = `sha256:${'ab'.repeat(32)}`;
const image = `myacr.azurecr.io/churn-app@${digest}`;
const kubeconfig = [
  'apiVersion: v1', 'kind: Config',
  'clusters: [{ name: aks, cluster: { server: "https://aks.example:443" } }]',
  'users: [{ name: ci, user: { token: "kube-token-123" } }]',
  'contexts: [{ name: aks, context: { cluster: aks, user: ci } }]',
  'current-context: aks', '',
].join('\n');
const endpoints = {
  k8s: { url: 'https://aks.example:443', scheme: 'Kubernetes', auth: { kubeconfig }, data: { authorizationType: 'Kubeconfig' } },
  registry: { url: 'https://myacr.azurecr.io', scheme: 'UsernamePassword', auth: { registry: 'https://myacr.azurecr.io', username: 'puller', password: 'registry-password-1' } },
  acrWif: {
    url: 'https://myacr.azurecr.io', scheme: 'WorkloadIdentityFederation',
    auth: { tenantid: '11111111-1111-1111-1111-111111111111', serviceprincipalid: '22222222-2222-2222-2222-222222222222', loginServer: 'myacr.azurecr.io' },
    data: { registrytype: 'ACR', subscriptionId: '33333333-3333-3333-3333-333333333333' },
  },
};
const variables = {
  'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.BuildId': '42', 'Build.SourceVersion': 'abc123',
};
const base = { kubernetesServiceConnection: 'k8s', image, appName: 'churn-app' };
/** Golden request files for the good and bad cases, written once. */
const goldenDir = fs.mkdtempSync(path.join(os.tmpdir(), 'golden-inputs-'));
const goldenFile = (name: string, text: string) => {
  const file = path.join(goldenDir, name);
  fs.writeFileSync(file, text);
  return file;
};
const GOLDEN_OK = goldenFile('ok.jsonl', '{"path": "/score", "body": {"instances": [{"a": 1}]}, "expect": {"predictions": [{"probability": 0.7}]}, "tolerance": 0.01}\n\n{"path": "/version", "expect": {"model_version": "3"}}\n');

function read(inputs: Record<string, string>, root?: string) {
  const read = readDeployInputs(fakeAgent(inputs, { endpoints, variables, root }));
  assert.ok(!read.decision, 'a deploy, not a decision');
  return read;
}

function readDecision(inputs: Record<string, string>) {
  const read = readDeployInputs(fakeAgent(inputs, { endpoints, variables }));
  assert.ok(read.decision, 'a decision');
  return read;
}

const deployTask = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'tasks', 'DeployAiAppToAksV1', 'task.json'), 'utf8')) as { inputs: { name: string; defaultValue?: string }[] };
/** task.json's default, as the agent would hand it over (text). */
const taskDefault = (name: keyof typeof DeployAiAppToAksInputs) => deployTask.inputs.find((input) => input.name === name)?.defaultValue;

describe('DeployAiAppToAks inputs', () => {
  it('generates a Deployment and Service spec from the defaults', () => {
    const { deploy } = read(base);
    assert.equal(deploy.namespace, 'default');
    assert.equal(deploy.createNamespace, true);
    assert.equal(deploy.rollbackOnFailure, true);
    assert.equal(deploy.rolloutTimeoutMs, 600_000);
    assert.equal(deploy.smokeTest, undefined);
    assert.ok(deploy.workload.kind === 'generated');
    const app = deploy.workload.app;
    assert.deepEqual([app.replicas, app.containerPort, app.servicePort, app.serviceType, app.readinessPath], [2, 5000, 80, 'LoadBalancer', '/']);
    assert.equal(app.progressDeadlineSeconds, 300);
    assert.equal(app.annotations.pipelineRun, 'https://dev.azure.com/contoso/churn/_build/results?buildId=42');
    assert.equal(app.annotations.commit, 'abc123');
    assert.equal(deploy.imagePullSecret, undefined);
  });

  it('takes every default from task.json alone: change one there and rebuild, and the task follows', () => {
    const { deploy, cluster } = read(base);
    assert.ok(deploy.workload.kind === 'generated');
    const { app } = deploy.workload;
    const values = {
      connectionType: connectionTypeOf(cluster), namespace: deploy.namespace, createNamespace: deploy.createNamespace, rollbackOnFailure: deploy.rollbackOnFailure,
      rolloutTimeoutSeconds: deploy.rolloutTimeoutMs / 1000, loadBalancerTimeoutSeconds: deploy.loadBalancerTimeoutMs / 1000,
      replicas: app.replicas, containerPort: app.containerPort, servicePort: app.servicePort, serviceType: app.serviceType, readinessPath: app.readinessPath,
      imagePullSecretName: read({ ...base, containerRegistry: 'registry' }).deploy.imagePullSecret?.name,
    };
    for (const [name, value] of Object.entries(values)) assert.equal(String(value), taskDefault(name as keyof typeof values), `input ${name}`);
  });

  it('names each setting the Deploy core may raise as a declared input, by connection type', () => {
    const declared = new Set(deployTask.inputs.map((input) => input.name));
    const raised = ['clusterConnection', 'registryConnection', 'namespace', 'image', 'manifests', 'containers', 'images', 'appName', 'replicas', 'containerPort', 'servicePort', 'serviceType', 'dnsLabel', 'readinessPath', 'env', 'imagePullSecret', 'progressDeadlineSeconds', 'modelDigest'];
    for (const type of ['kubernetesServiceConnection', 'azureResourceManager'] as const) {
      const settings = deploySettings(type);
      for (const setting of [...raised, ...(type === 'azureResourceManager' ? ['resourceGroup', 'cluster', 'useClusterAdmin', 'privateCluster'] : ['kubeconfig'])]) {
        assert.ok(declared.has(settings[setting]), `${type}: setting ${setting} is carried by '${settings[setting]}', not a declared input`);
      }
    }
    assert.deepEqual([deploySettings('kubernetesServiceConnection').clusterConnection, deploySettings('azureResourceManager').clusterConnection], ['kubernetesServiceConnection', 'azureSubscription']);
    assert.deepEqual([deploySettings('azureResourceManager').cluster, deploySettings('kubernetesServiceConnection').imagePullSecret], ['kubernetesCluster', 'imagePullSecretName']);
    // A kubeconfig in an azureResourceManager run is the one AKS issued (named by 'cluster'), never a Kubernetes connection's.
    assert.equal(deploySettings('azureResourceManager').kubeconfig, undefined);
  });

  it('checks the model when a digest is given, at the path and field task.json names, unless verifyModel is off', () => {
    assert.equal(read(base).deploy.modelCheck, undefined);
    assert.deepEqual(read({ ...base, modelDigest: digest }).deploy.modelCheck, { digest, path: taskDefault('modelCheckPath'), field: taskDefault('modelCheckField') });
    assert.deepEqual(read({ ...base, modelDigest: digest, modelCheckPath: '/info?full=1', modelCheckField: 'model.digest' }).deploy.modelCheck, { digest, path: '/info?full=1', field: 'model.digest' });
    assert.equal(read({ ...base, modelDigest: digest, verifyModel: 'false' }).deploy.modelCheck, undefined);
  });

  it('reads golden requests from JSON Lines or a JSON array, with their latency limit', () => {
    const lines = read({ ...base, goldenRequests: GOLDEN_OK, maxLatencyMs: '250' }).deploy.goldenRequests;
    assert.equal(lines?.maxLatencyMs, 250);
    assert.deepEqual(lines?.requests.map((r) => [r.method, r.path, r.tolerance, r.where]), [['POST', '/score', 0.01, 'line 1'], ['GET', '/version', 0, 'line 3']]);
    const array = read({ ...base, goldenRequests: goldenFile('array.json', '[{"path": "/v", "method": "put", "body": [1], "expect": "ok"}]') }).deploy.goldenRequests;
    assert.deepEqual(array?.requests.map((r) => [r.method, r.body, r.expect, r.where]), [['PUT', [1], 'ok', 'item 1']]);
    assert.equal(read(base).deploy.goldenRequests, undefined);
  });

  it('reads the canary settings only with strategy canary', () => {
    assert.equal(read({ ...base, goldenRequests: GOLDEN_OK }).canary, undefined);
    assert.equal(taskDefault('strategy'), 'rolling');
    assert.deepEqual(read({ ...base, goldenRequests: GOLDEN_OK, strategy: 'canary' }).canary, {
      steps: [{ percent: 10, seconds: 300 }, { percent: 50, seconds: 300 }], requestsPerSecond: 5, onInconclusive: 'abort', decision: 'automatic',
    });
    assert.deepEqual(read({ ...base, goldenRequests: GOLDEN_OK, strategy: 'canary', canarySteps: '0%:10s, 25%:1m', canaryRequestRate: '20', onInconclusive: 'promote', canaryDecision: 'manual' }).canary, {
      steps: [{ percent: 0, seconds: 10 }, { percent: 25, seconds: 60 }], requestsPerSecond: 20, onInconclusive: 'promote', decision: 'manual',
    });
    assert.equal(taskDefault('action'), 'deploy');
    assert.equal(taskDefault('canaryDecision'), 'automatic');
  });

  it('reads a promote or an abort without an image, golden requests or steps: the state supplies them', () => {
    const { decision, deploy, canary } = readDecision({ kubernetesServiceConnection: 'k8s', appName: 'churn-app', namespace: 'prod', strategy: 'canary', action: 'promote', replicas: '3' });
    assert.equal(deploy, undefined);
    assert.equal(canary, undefined);
    assert.equal(decision.action, 'promote');
    assert.equal(decision.expectedImage, undefined);
    assert.equal(decision.expectedModelDigest, undefined);
    assert.deepEqual(decision.modelProbe, { path: '/version', field: 'model_digest' }, 'the recorded model is checked by default');
    assert.equal(decision.request.app.appName, 'churn-app');
    assert.equal(decision.request.app.replicas, 3);
    assert.equal(decision.request.namespace, 'prod');
    assert.equal(decision.request.rollbackOnFailure, true);
    const abort = readDecision({ ...base, strategy: 'canary', action: 'abort', modelDigest: digest, verifyModel: 'false' }).decision;
    assert.equal(abort.action, 'abort');
    assert.equal(abort.expectedImage, image);
    assert.equal(abort.expectedModelDigest, digest);
    assert.equal(abort.modelProbe, undefined);
  });

  it('reads the blue-green settings only with strategy blueGreen, without golden requests too', () => {
    assert.deepEqual(read(base).strategy, { kind: 'rolling' });
    assert.deepEqual(read({ ...base, strategy: 'blueGreen' }).strategy, { kind: 'blueGreen', settings: { keepMinutes: 30, previewService: false } });
    assert.deepEqual(read({ ...base, strategy: 'blueGreen', blueGreenKeepMinutes: '0', blueGreenPreviewService: 'true' }).strategy, { kind: 'blueGreen', settings: { keepMinutes: 0, previewService: true } });
    assert.equal(read({ ...base, goldenRequests: GOLDEN_OK, strategy: 'canary' }).strategy.kind, 'canary');
  });

  it('refuses blue-green on a private cluster, naming strategy', () => {
    const arm = { url: 'https://management.azure.com/', scheme: 'WorkloadIdentityFederation', auth: { tenantid: 'tenant-1', serviceprincipalid: 'client-1' }, data: { subscriptionId: 'sub-1' } };
    const inputs = { image, appName: 'churn-app', connectionType: 'azureResourceManager', azureSubscription: 'arm', resourceGroup: 'rg-ai', kubernetesCluster: 'aks-prod', privateCluster: 'true' };
    assert.equal(readDeployInputs(fakeAgent(inputs, { endpoints: { arm }, variables })).strategy?.kind, 'rolling');
    assert.throws(() => readDeployInputs(fakeAgent({ ...inputs, strategy: 'blueGreen' }, { endpoints: { arm }, variables })), (error: unknown) =>
      error instanceof InputError && error.input === 'strategy' && /'blueGreen': a private cluster .*needs the API server/.test(error.message));
  });

  it('reads env values that hold = and commas, one per line', () => {
    const { deploy } = read({ ...base, env: 'MODEL_PATH=/models\nALLOWED=a,b=c\n' });
    assert.ok(deploy.workload.kind === 'generated');
    assert.deepEqual(deploy.workload.app.env, { MODEL_PATH: '/models', ALLOWED: 'a,b=c' });
  });

  it('keeps the progress deadline inside the rollout timeout', () => {
    assert.deepEqual([60, 120, 600, 3600].map(progressDeadlineFor), [30, 90, 300, 300]);
    const { deploy } = read({ ...base, rolloutTimeoutSeconds: '90' });
    assert.ok(deploy.workload.kind === 'generated');
    assert.equal(deploy.workload.app.progressDeadlineSeconds, 60);
  });

  it('turns a user-name connection into a pull secret the pods reference', () => {
    const { deploy } = read({ ...base, containerRegistry: 'registry', smokeTestPath: '/healthz' });
    assert.equal(deploy.smokeTest?.path, '/healthz');
    assert.deepEqual({ ...deploy.imagePullSecret }, { name: 'ai-app-registry', registry: 'myacr.azurecr.io', username: 'puller', password: 'registry-password-1' });
    assert.ok(deploy.workload.kind === 'generated');
    assert.equal(deploy.workload.app.imagePullSecret, 'ai-app-registry');
  });

  describe('with manifests', () => {
    let root: string;
    before(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-inputs-'));
      fs.mkdirSync(path.join(root, 'k8s'));
      fs.writeFileSync(path.join(root, 'k8s', 'app.yaml'), [
        'apiVersion: apps/v1', 'kind: Deployment', 'metadata: { name: web }',
        'spec: { template: { spec: { containers: [{ name: app, image: "myacr.azurecr.io/churn-app:dev" }, { name: proxy, image: "nginx:1.27" }] } } }',
        '---', 'apiVersion: v1', 'kind: Service', 'metadata: { name: web }', 'spec: { ports: [{ port: 80 }] }', '',
      ].join('\n'));
      fs.writeFileSync(path.join(root, 'k8s', 'broken.yml'), 'kind: [unclosed\n');
      fs.writeFileSync(path.join(root, 'k8s', 'other.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\nspec: { template: { spec: { containers: [{ name: c, image: "redis:7" }] } } }\n');
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it('finds them by glob and substitutes the image by repository', () => {
      const inputs = read({ kubernetesServiceConnection: 'k8s', image, manifests: 'k8s/*.yaml\n!k8s/other.yaml' }, root);
      assert.ok(inputs.deploy.workload.kind === 'manifests');
      assert.deepEqual(inputs.manifestFiles, [path.join(root, 'k8s', 'app.yaml')]);
      const containers = (inputs.deploy.workload.documents[0] as any).spec.template.spec.containers;
      assert.deepEqual(containers.map((container: { image: string }) => container.image), [image, 'nginx:1.27']);
    });

    it('prunes only when asked, and only with manifests', () => {
      assert.equal(read({ kubernetesServiceConnection: 'k8s', image, manifests: 'k8s/app.yaml' }, root).deploy.prune, false);
      assert.equal(read({ kubernetesServiceConnection: 'k8s', image, manifests: 'k8s/app.yaml', prune: 'true' }, root).deploy.prune, true);
      assert.equal(read({ ...base, prune: 'true' }).deploy.prune, false, 'a generated app has nothing to prune');
    });

    it('substitutes further images by repository from the images input', () => {
      const inputs = read({ kubernetesServiceConnection: 'k8s', image, manifests: 'k8s/app.yaml', images: '\n docker.io/library/nginx = nginx@sha256:' + 'b'.repeat(64) + '\n' }, root);
      assert.ok(inputs.deploy.workload.kind === 'manifests');
      const containers = (inputs.deploy.workload.documents[0] as any).spec.template.spec.containers;
      assert.deepEqual(containers.map((container: { image: string }) => container.image), [image, 'nginx@sha256:' + 'b'.repeat(64)]);
    });

    const badManifests: [string, Record<string, string>, string, RegExp][] = [
      ['invalid YAML', { manifests: 'k8s/broken.yml' }, 'manifests', /broken\.yml is not valid YAML/],
      ['a manifest with no matching container', { manifests: 'k8s/other.yaml' }, 'manifests', /No container in the manifests uses repository 'myacr\.azurecr\.io\/churn-app'.*redis:7 \(Deployment\/x, container c\)/],
      ['a glob that matches nothing', { manifests: 'deploy/*.yaml' }, 'manifests', /Input 'manifests' is 'deploy\/\*\.yaml': no file matches/],
      ['containers naming a missing container', { manifests: 'k8s/app.yaml', containers: 'sidecar' }, 'containers', /no container named 'sidecar'.*container proxy/],
      ['an images line without =', { manifests: 'k8s/app.yaml', images: 'nginx@sha256:' + 'a'.repeat(64) }, 'images', /^Input 'images' is 'nginx@sha256:a+': expected one repository=reference per line/],
      ['an images repository with a tag', { manifests: 'k8s/app.yaml', images: 'nginx:1.27=nginx:1.28' }, 'images', /Input 'images' is 'nginx:1\.27=nginx:1\.28': 'nginx:1\.27': give a repository without a tag or digest/],
      ['an images reference that is not a reference', { manifests: 'k8s/app.yaml', images: 'nginx=Nginx Latest' }, 'images', /Input 'images' is 'Nginx Latest'/],
      ['an images repository given twice', { manifests: 'k8s/app.yaml', images: 'nginx=nginx:1.28\ndocker.io/library/nginx=nginx:1.29' }, 'images', /repository '[a-z0-9.-]*docker\.io\/library\/nginx': it is given twice/],
      ['an images repository that is the image\'s', { manifests: 'k8s/app.yaml', images: 'myacr.azurecr.io/churn-app=myacr.azurecr.io/churn-app:v2' }, 'images', /it is the repository of 'image'/],
      ['a prune that is not a boolean', { manifests: 'k8s/app.yaml', prune: 'sometimes' }, 'prune', /Input 'prune'.*'sometimes'/],
      ['an images repository no container uses', { manifests: 'k8s/app.yaml', images: 'redis=redis:7.2' }, 'images', /Input 'images' names repository 'redis', but no container/],
      ['a canary with your own manifests', { manifests: 'k8s/app.yaml', strategy: 'canary' }, 'strategy', /Input 'strategy' is 'canary': it works with the generated workload/],
      ['a blue-green with your own manifests', { manifests: 'k8s/app.yaml', strategy: 'blueGreen' }, 'strategy', /Input 'strategy' is 'blueGreen': it works with the generated workload .*use rolling with your own manifests/],
    ];
    for (const [what, inputs, input, message] of badManifests) {
      it(`rejects ${what}`, () => assert.throws(() => read({ kubernetesServiceConnection: 'k8s', image, ...inputs }, root), (error: unknown) =>
        error instanceof InputError && error.input === input && message.test(error.message)));
    }
  });

  const bad: [string, Record<string, string>, string, RegExp][] = [
    ['a missing image', { image: '' }, 'image', /Input 'image' is required/],
    ['an image that is not a reference', { image: 'Churn App:latest' }, 'image', /Input 'image' is 'Churn App:latest'/],
    ['an invalid namespace name', { namespace: 'Prod_EU' }, 'namespace', /Input 'namespace' is 'Prod_EU': use a DNS-1123 label/],
    ['no appName without manifests', { appName: '' }, 'appName', /Input 'appName' is required when 'manifests' is empty/],
    ['an appName that is no DNS label', { appName: 'Churn_App' }, 'appName', /Input 'appName' is 'Churn_App'/],
    ['negative replicas', { replicas: '-1' }, 'replicas', /Input 'replicas' is -1, which is out of range\. Use a whole number from 0 to 1000/],
    ['replicas that are not a number', { replicas: 'two' }, 'replicas', /Input 'replicas' is 'two', which is not a whole number/],
    ['a container port out of range', { containerPort: '70000' }, 'containerPort', /Input 'containerPort' is 70000, which is out of range\. Use a whole number from 1 to 65535/],
    ['a service port of 0', { servicePort: '0' }, 'servicePort', /Input 'servicePort' is 0, which is out of range/],
    ['an unknown service type', { serviceType: 'Ingress' }, 'serviceType', /Input 'serviceType' is 'Ingress'.*LoadBalancer, ClusterIP, NodePort/],
    ['an invalid DNS label', { dnsLabel: '1churn' }, 'dnsLabel', /Input 'dnsLabel' is '1churn'.*cloudapp\.azure\.com/],
    ['a DNS label without a load balancer', { dnsLabel: 'churn-demo', serviceType: 'ClusterIP' }, 'dnsLabel', /needs serviceType LoadBalancer/],
    ['a readiness path without /', { readinessPath: 'healthz' }, 'readinessPath', /Input 'readinessPath' is 'healthz'.*starts with '\/'/],
    ['a smoke test path with a space', { smokeTestPath: '/score now' }, 'smokeTestPath', /Input 'smokeTestPath' is '\/score now'/],
    ['an env line without =', { env: 'MODEL_PATH' }, 'env', /Input 'env' is 'MODEL_PATH': expected one KEY=VALUE per line/],
    ['an env name with a space', { env: 'MODEL PATH=/m' }, 'env', /Input 'env'/],
    ['a rollout timeout too small', { rolloutTimeoutSeconds: '9' }, 'rolloutTimeoutSeconds', /Input 'rolloutTimeoutSeconds' is 9, which is out of range\. Use a whole number from 10 to 86400/],
    ['a progress deadline too small', { progressDeadlineSeconds: '1' }, 'progressDeadlineSeconds', /from 5 to 86400/],
    ['a load balancer wait too long', { loadBalancerTimeoutSeconds: '99999' }, 'loadBalancerTimeoutSeconds', /from 10 to 3600/],
    ['a rollback flag that is not a boolean', { rollbackOnFailure: 'maybe' }, 'rollbackOnFailure', /Input 'rollbackOnFailure'.*'maybe'/],
    ['a model digest that is not sha256', { modelDigest: 'md5:abc' }, 'modelDigest', /Input 'modelDigest' is 'md5:abc'/],
    ['a model check path without /', { modelDigest: digest, modelCheckPath: 'version' }, 'modelCheckPath', /Input 'modelCheckPath' is 'version'.*starts with '\/'/],
    ['a model check field with a space', { modelDigest: digest, modelCheckField: 'model digest' }, 'modelCheckField', /Input 'modelCheckField' is 'model digest'.*model\.digest/],
    ['a model check field with an empty part', { modelDigest: digest, modelCheckField: 'model..digest' }, 'modelCheckField', /Input 'modelCheckField' is 'model\.\.digest'/],
    ['a verifyModel that is not a boolean', { modelDigest: digest, verifyModel: 'sometimes' }, 'verifyModel', /Input 'verifyModel'.*'sometimes'/],
    ['a golden requests file that does not exist', { goldenRequests: path.join(goldenDir, 'missing.json') }, 'goldenRequests', /Input 'goldenRequests' is '.*missing\.json': no such file/],
    ['a golden requests file that is empty', { goldenRequests: goldenFile('empty.json', '  \n') }, 'goldenRequests', /Input 'goldenRequests': golden requests file .*empty\.json, the file: it is empty/],
    ['a golden requests line that is not JSON', { goldenRequests: goldenFile('broken.jsonl', '{"path": "/score", "expect": 1}\n{"path": /score}\n') }, 'goldenRequests', /golden requests file .*broken\.jsonl, line 2: it is not valid JSON/],
    ['a golden array that is not JSON', { goldenRequests: goldenFile('broken.json', '[{"path": "/score"},') }, 'goldenRequests', /broken\.json, the file: it is not valid JSON/],
    ['a golden request without expect', { goldenRequests: goldenFile('noexpect.json', '[{"path": "/score", "body": {}}]') }, 'goldenRequests', /noexpect\.json, item 1: "expect" is missing/],
    ['a golden request with an unknown field', { goldenRequests: goldenFile('unknown.json', '[{"path": "/score", "expect": 1, "expected": 2}]') }, 'goldenRequests', /item 1: unknown field\(s\) expected/],
    ['a golden request with a relative path', { goldenRequests: goldenFile('relative.json', '[{"path": "score", "expect": 1}]') }, 'goldenRequests', /item 1: "path" must be an HTTP path/],
    ['a golden request with a DELETE', { goldenRequests: goldenFile('delete.json', '[{"path": "/score", "method": "DELETE", "expect": 1}]') }, 'goldenRequests', /"method" must be one of GET, POST, PUT/],
    ['a golden GET with a body', { goldenRequests: goldenFile('getbody.json', '[{"path": "/score", "method": "GET", "body": {}, "expect": 1}]') }, 'goldenRequests', /a GET request has no "body"/],
    ['a negative tolerance', { goldenRequests: goldenFile('tolerance.json', '[{"path": "/score", "body": {}, "expect": 1, "tolerance": -1}]') }, 'goldenRequests', /"tolerance" must be a number, 0 or more/],
    ['a request that is not an object', { goldenRequests: goldenFile('string.jsonl', '"/score"\n') }, 'goldenRequests', /line 1: each request is a JSON object/],
    ['a latency limit of 0', { goldenRequests: GOLDEN_OK, maxLatencyMs: '0' }, 'maxLatencyMs', /Input 'maxLatencyMs' is 0, which is out of range\. Use a whole number from 1 to 600000/],
    ['a latency limit that is not a number', { goldenRequests: GOLDEN_OK, maxLatencyMs: 'fast' }, 'maxLatencyMs', /Input 'maxLatencyMs' is 'fast', which is not a whole number/],
    ['a strategy that is not offered', { strategy: 'rainbow' }, 'strategy', /Input 'strategy'.*'rainbow'/],
    ['a negative blueGreenKeepMinutes', { strategy: 'blueGreen', blueGreenKeepMinutes: '-1' }, 'blueGreenKeepMinutes', /Input 'blueGreenKeepMinutes' is -1, which is out of range\. Use a whole number from 0 to 10080/],
    ['a blueGreenKeepMinutes that is not a number', { strategy: 'blueGreen', blueGreenKeepMinutes: 'half an hour' }, 'blueGreenKeepMinutes', /Input 'blueGreenKeepMinutes' is 'half an hour', which is not a whole number/],
    ['a blueGreenPreviewService that is not a boolean', { strategy: 'blueGreen', blueGreenPreviewService: 'maybe' }, 'blueGreenPreviewService', /Input 'blueGreenPreviewService'.*'maybe'/],
    ['a preview Service name over 63 characters', { strategy: 'blueGreen', blueGreenPreviewService: 'true', appName: 'a'.repeat(60) }, 'appName', /preview Service is named 'a{60}-preview', longer than a Service name's 63 characters/],
    ['a canary without golden requests', { strategy: 'canary' }, 'goldenRequests', /Input 'goldenRequests' is required when strategy is canary/],
    ['canary steps without a duration', { strategy: 'canary', goldenRequests: GOLDEN_OK, canarySteps: '10%, 50%:5m' }, 'canarySteps', /Input 'canarySteps': canary step '10%' is not valid: it is not <percent>%:<duration>/],
    ['a canary step under 10 s', { strategy: 'canary', goldenRequests: GOLDEN_OK, canarySteps: '10%:5s' }, 'canarySteps', /Input 'canarySteps': canary step '10%:5s' is not valid: 5 s is shorter than the minimum of 10 s/],
    ['canary steps that decrease', { strategy: 'canary', goldenRequests: GOLDEN_OK, canarySteps: '50%:1m, 10%:1m' }, 'canarySteps', /must not decrease/],
    ['a canary request rate of 0', { strategy: 'canary', goldenRequests: GOLDEN_OK, canaryRequestRate: '0' }, 'canaryRequestRate', /Input 'canaryRequestRate' is 0, which is out of range\. Use a whole number from 1 to 100/],
    ['an action that is not offered', { strategy: 'canary', action: 'rollback' }, 'action', /Input 'action'.*'rollback'/],
    ['a promote with strategy rolling', { action: 'promote' }, 'action', /Input 'action' is 'promote': promote finishes a canary that waits for a decision; set strategy to canary/],
    ['an abort with your own manifests', { strategy: 'canary', action: 'abort', manifests: 'k8s/*.yaml' }, 'action', /Input 'action' is 'abort': canaries work with the generated workload/],
    ['a promote whose image is not a reference', { strategy: 'canary', action: 'promote', image: 'Churn App' }, 'image', /Input 'image' is 'Churn App'/],
    ['a promote under requireProvenance without the image', { strategy: 'canary', action: 'promote', image: '', requireProvenance: 'true', trustedPublicKeys: '/keys.pem' }, 'image', /Input 'image' is required when requireProvenance is true: the image to promote is verified again/],
    ['an abort on a private cluster', { connectionType: 'azureResourceManager', azureSubscription: 'acrWif', resourceGroup: 'rg-ai', kubernetesCluster: 'aks-prod', privateCluster: 'true', strategy: 'canary', action: 'abort' }, 'privateCluster', /Input 'privateCluster' is 'true': action abort reads the canary's state from the API server/],
    ['a canaryDecision that is not offered', { strategy: 'canary', goldenRequests: GOLDEN_OK, canaryDecision: 'ask' }, 'canaryDecision', /Input 'canaryDecision'.*'ask'/],
    ['an onInconclusive that is not offered', { strategy: 'canary', goldenRequests: GOLDEN_OK, onInconclusive: 'retry' }, 'onInconclusive', /Input 'onInconclusive'.*'retry'/],
    ['an invalid pull secret name', { containerRegistry: 'registry', imagePullSecretName: 'ACR Pull' }, 'imagePullSecretName', /Input 'imagePullSecretName' is 'ACR Pull'/],
    ['a federated ACR connection for a pull secret', { containerRegistry: 'acrWif' }, 'containerRegistry', /has no password a pull secret could hold.*--attach-acr/],
    ['a registry connection that does not exist', { containerRegistry: 'nope' }, 'containerRegistry', /nope/],
    ['requireProvenance that is not a boolean', { requireProvenance: 'strict' }, 'requireProvenance', /'strict'/],
    ['requireProvenance without trusted keys', { requireProvenance: 'true' }, 'trustedPublicKeys', /Input 'trustedPublicKeys' is required when requireProvenance is true/],
    ['allowInsecureRegistry that is not a boolean', { requireProvenance: 'true', trustedPublicKeys: '/keys.pem', allowInsecureRegistry: 'sometimes' }, 'allowInsecureRegistry', /'sometimes'/],
  ];
  for (const [what, inputs, input, message] of bad) {
    it(`rejects ${what}`, () => {
      const agent = fakeAgent({ ...base, ...inputs }, { endpoints, variables });
      assert.throws(() => readDeployInputs(agent), (error: unknown) => {
        assert.ok(error instanceof InputError, `not an InputError: ${String(error)}`);
        assert.equal(error.input, input);
        assert.match(error.message, message);
        for (const secret of ['kube-token-123', 'registry-password-1']) assert.ok(!error.message.includes(secret), 'a secret reached the message');
        return true;
      });
    });
  }
});
