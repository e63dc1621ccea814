/**
 * The Deploy e2e against a REAL cluster (AKS or any other), outside `npm test`:
 *   KUBECONFIG=~/.kube/config DEPLOY_E2E_IMAGE=myacr.azurecr.io/churn-app@sha256:... npm run test:cluster
 * The cluster must be able to pull DEPLOY_E2E_IMAGE, an HTTP app answering 2xx on `/` at
 * DEPLOY_E2E_PORT (default 5000). The test works in a namespace of its own and deletes it after.
 * It deploys the image, checks it with kubectl, deploys a digest no registry holds and checks the
 * automatic rollback. A LoadBalancer address can take minutes on a real cloud.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'DeployAiAppToAksV1');

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set. Usage: KUBECONFIG=<file> DEPLOY_E2E_IMAGE=<registry/repo@sha256:...> npm run test:cluster`);
  return value;
}

describe('DeployAiAppToAks against a real cluster', function () {
  this.timeout(20 * 60_000);
  const kubeconfigFile = required('KUBECONFIG');
  const image = required('DEPLOY_E2E_IMAGE');
  const port = process.env.DEPLOY_E2E_PORT ?? '5000';
  const namespace = `ai-e2e-${Date.now().toString(36)}`;
  const kubeconfig = fs.readFileSync(kubeconfigFile, 'utf8');
  const kubectl = (...args: string[]) => execFileSync('kubectl', [...args, '-n', namespace], { encoding: 'utf8' });
  const deploy = (inputs: Record<string, string>) => runTask({
    taskDir, timeoutMs: 15 * 60_000,
    endpoints: { cluster: { url: 'https://cluster', scheme: 'Kubernetes', parameters: { kubeconfig }, data: { authorizationType: 'Kubeconfig' } } },
    inputs: { kubernetesServiceConnection: 'cluster', namespace, appName: 'ai-e2e', containerPort: port, servicePort: '80', rolloutTimeoutSeconds: '600', progressDeadlineSeconds: '120', ...inputs },
  });

  after(() => {
    execFileSync('kubectl', ['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found'], { stdio: 'inherit' });
  });

  it('deploys the image, reports the address and serves it', async () => {
    const run = await deploy({ image, smokeTestPath: '/' });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(kubectl('get', 'deployment', 'ai-e2e', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'), image);
    assert.ok(run.outputs.serviceUrl, 'a load balancer address');
    assertNoSecrets(run, run.secretsRegistered);
  });

  it('rolls back an image that does not exist', async () => {
    const missing = `${image.split('@')[0].split(':')[0]}@sha256:${'0'.repeat(64)}`;
    const run = await deploy({ image: missing });
    assert.equal(run.result.status, 'Failed');
    assert.equal(run.outputs.rolledBack, 'true', visibleOutput(run));
    assert.equal(kubectl('get', 'deployment', 'ai-e2e', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'), image);
    assertNoSecrets(run, run.secretsRegistered);
  });
});
