/**
 * The pipeline on the real runtime: storage -> FetchLatestModel -> BakeModelIntoImage ->
 * DeployAiAppToAks -> POST /score. The model is the sample's real churn model (model/train.py),
 * the app image is the sample app built from Debian's packages (test/support/appImage), and the
 * cluster simulator's kubelet runs it with runc: the baked image really starts, its non-root user
 * reads the model, and /score is answered by the app through the load balancer. Deploy proves the
 * model on the way (identity check and the sample's golden requests through the pod proxy).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { connectCluster } from '../../tasks/common/kube/cluster';
import { generateManifests } from '../../tasks/common/kube/generate';
import { startAzurite, type Azurite } from '../support/azurite';
import type { ClusterSimulator } from '../support/cluster';
import { ModelPublisher } from '../support/modelStore';
import { PipelineJob } from '../support/pipelineJob';
import { BUNDLED_TASKS, type RuntimeRig, SAMPLE_APP, startRuntimeRig } from '../support/runtimeRig';
import { testNetwork } from '../support/services';
import { visibleOutput, type TaskRun } from '../support/taskRunner';

const KUBE_TOKEN = 'e2e-runtime-kube-token-9d41';
const run = { 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'c0ffee', 'Build.BuildId': '301' };

describe('the pipeline on the real runtime: storage -> Fetch -> Bake -> Deploy -> POST /score', function () {
  this.timeout(300_000);
  let azurite: Azurite;
  let rig: RuntimeRig;
  let cluster: ClusterSimulator;
  let job: PipelineJob;

  before(async () => {
    [azurite, rig] = await Promise.all([startAzurite(), startRuntimeRig('pipeline-runtime', KUBE_TOKEN)]);
    cluster = rig.cluster;
    // The data scientist's side: train the sample's churn model and publish it, approved.
    const model = rig.trainModel('model', '2.0.0', 40);
    const publisher = await new ModelPublisher(azurite.connectionString, 'models').create();
    for (const file of fs.readdirSync(model)) await publisher.publish(`churn/2.0.0/${file}`, fs.readFileSync(join(model, file)), { tags: { stage: 'approved' } });
  });
  after(async () => {
    job?.cleanup();
    await Promise.all([rig?.stop(), azurite?.stop()]);
  });

  it('serves /score from the baked model, as the Dockerfile\'s non-root user, after proving the model', async () => {
    job = new PipelineJob(run, { StorageConnectionString: azurite.connectionString });
    const { registry, endpoints: { acr, aks }, env } = rig;
    const succeeded = (name: string, step: TaskRun) => assert.equal(step.result.status, 'Succeeded', `step '${name}': ${step.result.message}\n${visibleOutput(step)}`);
    succeeded('fetch', await job.step('fetch', {
      taskDir: join(BUNDLED_TASKS, 'FetchLatestModelV1'),
      inputs: { connectionType: 'connectionString', connectionString: '$(StorageConnectionString)', container: 'models', modelPrefix: 'churn/', selection: 'tagQuery', tagQuery: `"stage" = 'approved'`, destination: '$(Agent.TempDirectory)/model' },
    }));
    succeeded('bake', await job.step('bake', {
      taskDir: join(BUNDLED_TASKS, 'BakeModelIntoImageV1'), endpoints: { acr }, env,
      inputs: { containerRegistry: 'acr', baseImage: `${registry.host}/churn-app:app-1`, tags: '$(Build.BuildId)', modelPath: '$(fetch.modelPath)', modelVersion: '$(fetch.modelVersion)', modelDigest: '$(fetch.modelDigest)' },
    }));
    const deploy = await job.step('deploy', {
      taskDir: join(BUNDLED_TASKS, 'DeployAiAppToAksV1'), endpoints: { aks, acr }, env,
      inputs: {
        kubernetesServiceConnection: 'aks', namespace: 'churn', appName: 'churn-app', image: '$(bake.imageRef)', replicas: '2',
        containerPort: '5000', servicePort: '8080', readinessPath: '/healthz', containerRegistry: 'acr', rolloutTimeoutSeconds: '120',
        modelVersion: '$(fetch.modelVersion)', modelDigest: '$(fetch.modelDigest)', goldenRequests: join(SAMPLE_APP, 'golden-requests.jsonl'),
      },
    });
    succeeded('deploy', deploy);
    const { modelDigest } = job.get('fetch').outputs;
    assert.equal(deploy.outputs.modelVerified, 'true');
    assert.equal((visibleOutput(deploy).match(/Model check: pod 'churn-app-[^']+' serves model digest sha256:/g) ?? []).length, 2, visibleOutput(deploy));
    assert.match(visibleOutput(deploy), /Golden requests: all 2 answered as expected through http:\/\//);

    const answer = await fetch(`${deploy.outputs.serviceUrl}/score`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [{ tenure_months: 2, monthly_charges: 105, support_calls: 6, month_to_month: 1, senior: 1 }] }),
    });
    assert.equal(answer.status, 200);
    const scored = await answer.json() as { predictions: { label: string; probability: number }[]; model_digest: string; model_version: string };
    assert.equal(scored.model_digest, modelDigest);
    assert.equal(scored.model_version, '2.0.0');
    assert.equal(scored.predictions[0].label, 'churn');
    assert.ok(scored.predictions[0].probability > 0.9, JSON.stringify(scored));

    const processes = cluster.containerProcesses().filter((p) => p.namespace === 'churn');
    assert.equal(processes.length, 2);
    for (const { pid, pod } of processes) {
      const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      assert.equal(uid, '10001', `pod ${pod} runs as the Dockerfile's USER`);
      assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), `pod ${pod} has its own network namespace`);
    }
    assert.deepEqual(cluster.errors, []);
  });

  it('restarts a container that exits, with back-off, its exit code in the status and its output in the logs', async () => {
    // The app image alone carries no model: the real app refuses to start, as its Dockerfile says.
    const kube = connectCluster(cluster.kubeconfig(), { network: testNetwork });
    try {
      const { deployment } = generateManifests({
        appName: 'bare', namespace: 'bare', image: rig.appImage, replicas: 1, containerPort: 5000, servicePort: 8081, serviceType: 'ClusterIP', readinessPath: '/healthz', env: {}, annotations: {},
      });
      await kube.core.createNamespace({ body: { metadata: { name: 'bare' } } });
      await kube.apps.createNamespacedDeployment({ namespace: 'bare', body: deployment as never });
      type PodView = { metadata: { name: string }; status?: { containerStatuses?: { restartCount: number; state: { waiting?: { reason?: string } }; lastState: { terminated?: { exitCode: number } } }[] } };
      const deadline = Date.now() + 120_000;
      let pod: PodView | undefined;
      while (!((pod?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2)) {
        assert.ok(Date.now() < deadline, `no second restart: ${JSON.stringify(pod?.status)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        pod = (cluster.list('Pod', 'bare') as PodView[])[0];
      }
      const status = pod?.status?.containerStatuses?.[0];
      assert.equal(status?.lastState.terminated?.exitCode, 1);
      const logs = await kube.core.readNamespacedPodLog({ name: pod?.metadata.name ?? '', namespace: 'bare', previous: true });
      assert.match(logs, /error: cannot load the model: MODEL_PATH \/models does not exist/);
    } finally {
      kube.close();
    }
  });
});
