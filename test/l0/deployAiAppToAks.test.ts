import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ClusterProcess, startClusterProcess } from '../support/cluster/process';
import { handlerNodes } from '../support/node24';
import { endpointEnv } from '../support/taskRunner';
import { runL0 } from './l0Runner';

const image = `127.0.0.1:5000/churn-app@sha256:${'e'.repeat(64)}`;

describe('DeployAiAppToAks L0 (MockTestRunner)', function () {
  this.timeout(60_000);
  // In a process of its own: MockTestRunner blocks this one with spawnSync while the task runs.
  let cluster: ClusterProcess;
  let env: Record<string, string>;

  before(async () => {
    cluster = await startClusterProcess({ auth: { token: 'l0-token' }, podReadyDelayMs: 50, loadBalancerDelayMs: 50 });
    env = endpointEnv('aks', { url: cluster.url, scheme: 'Kubernetes', parameters: { kubeconfig: cluster.kubeconfig }, data: { authorizationType: 'Kubeconfig' } });
  });
  after(async () => cluster?.stop());

  // Under one handler only: a canary step lasts at least 10 s.
  it('runs a canary step and promotes, setting verdict and analysisReport', async () => {
    const { nodePath } = handlerNodes()[0]!;
    const [oldDigest, newDigest] = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`];
    const golden = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'l0-golden-')), 'golden.jsonl');
    fs.writeFileSync(golden, `${JSON.stringify({ path: '/version', method: 'GET', expect: { model_digest: newDigest } })}\n`);
    const common = { kubernetesServiceConnection: 'aks', appName: 'l0-canary', containerPort: '8080', servicePort: '18090', replicas: '2' };
    const stable = await runL0('DeployAiAppToAksV1', { ...common, image: image.replace(/e+$/, 'f'.repeat(64)), modelDigest: oldDigest }, nodePath, env);
    assert.ok(stable.succeeded, stable.stdout + stable.stderr);
    const runner = await runL0('DeployAiAppToAksV1', {
      ...common, image, modelDigest: newDigest, goldenRequests: golden, strategy: 'canary', canarySteps: '50%:10s', canaryRequestRate: '5',
    }, nodePath, env);
    assert.ok(runner.succeeded, runner.stdout + runner.stderr);
    const outputs = Object.fromEntries([...runner.stdout.matchAll(/##vso\[task\.setvariable variable=(\w+);isOutput=true;[^\]]*\](.*)/g)].map((m) => [m[1], m[2]]));
    assert.equal(outputs.verdict, 'promoted');
    assert.equal(outputs.deployedImage, image);
    const report = JSON.parse(fs.readFileSync(outputs.analysisReport!, 'utf8'));
    assert.deepEqual([report.verdict, report.steps.length, report.steps[0].verdict], ['promoted', 1, 'pass']);
    // The baseline serves the old model, so the golden request fails there and not on the canary.
    assert.deepEqual([report.steps[0].samples.canary.errors, report.steps[0].samples.baseline.errors], [0, 50], JSON.stringify(report).slice(0, 1500) + runner.stdout.slice(-4000));
    assert.match(runner.stdout, /##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=loc_mock_SummaryTitleCanary;\]/);
    fs.rmSync(outputs.analysisReport!, { force: true });
    fs.rmSync(path.dirname(golden), { recursive: true, force: true });
  });

  for (const [index, { handler, nodePath }] of handlerNodes().entries()) {
    describe(`under ${handler}`, () => {
      it('succeeds and sets every output variable', async () => {
        const runner = await runL0('DeployAiAppToAksV1', { kubernetesServiceConnection: 'aks', image, appName: `l0-app-${index}`, containerPort: '8080', servicePort: String(18080 + index) }, nodePath, env);
        assert.ok(runner.succeeded, runner.stdout + runner.stderr);
        const outputs = Object.fromEntries([...runner.stdout.matchAll(/##vso\[task\.setvariable variable=(\w+);isOutput=true;[^\]]*\](.*)/g)].map((m) => [m[1], m[2]]));
        assert.deepEqual(Object.keys(outputs).sort(), ['deployedImage', 'deploymentName', 'modelVerified', 'revision', 'rolledBack', 'serviceHostname', 'serviceIp', 'serviceUrl', 'workloads']);
        assert.deepEqual([outputs.deploymentName, outputs.deployedImage, outputs.revision, outputs.rolledBack, outputs.modelVerified], [`l0-app-${index}`, image, '1', 'false', 'false']);
        assert.match(runner.stdout, /loc_mock_DeploySucceeded/, 'user-facing text goes through tl.loc');
        assert.match(runner.stdout, /##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=loc_mock_SummaryTitleDeploy;\]/);
        assert.match(outputs.serviceUrl, /^http:\/\/127\.\d+\.\d+\.\d+:1808\d$/);
        assert.deepEqual(JSON.parse(outputs.workloads), [{ kind: 'Deployment', name: `l0-app-${index}`, namespace: 'default', revision: 1, images: [image] }]);
      });

      it('fails on an invalid namespace, naming the input, before reaching the cluster', async () => {
        const runner = await runL0('DeployAiAppToAksV1', { kubernetesServiceConnection: 'aks', image, appName: 'l0-app', namespace: 'Prod_EU' }, nodePath, env);
        assert.ok(runner.failed);
        assert.match(runner.stdout, /result=Failed;\]loc_mock_InputInvalid namespace Prod_EU/);
        assert.doesNotMatch(runner.stdout, /loc_mock_KubeConnectionUsing/, 'nothing was sent to the cluster');
      });
    });
  }
});
