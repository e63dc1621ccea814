/**
 * Canary and blue-green on the real runtime: the sample's churn model, trained by its own
 * train.py, baked into the sample app image by the bundled Bake task, and a constant predictor
 * baked the same way (a training bug: it loads and answers, 0.5 for everyone). The bundled Deploy
 * task releases them onto the cluster simulator, whose kubelet runs the images with runc; the
 * canary's traffic is the sample's golden requests answered by the real app. A good model is
 * promoted (canary) or switched to (blue-green); the bad one is aborted and the serving app is
 * left as it was, which the real kubectl shows.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { PipelineJob } from '../support/pipelineJob';
import { BUNDLED_TASKS, modelDigest, type RuntimeRig, SAMPLE_APP, startRuntimeRig, writeConstantPredictor } from '../support/runtimeRig';
import { visibleOutput, type TaskRun } from '../support/taskRunner';

const KUBE_TOKEN = 'e2e-strategies-kube-token-5c2e';
const run = { 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'c0ffee', 'Build.BuildId': '401' };
/** One short step: 5 golden requests a second to each track for 10 s passes the 30-sample minimum. */
const CANARY = { strategy: 'canary', canarySteps: '50%:10s', canaryRequestRate: '5' };
const BLUE_GREEN = { strategy: 'blueGreen', blueGreenKeepMinutes: '30' };

interface Model { readonly version: string; readonly digest: string; readonly image: string }
type CheckReport = { check: string; verdict: string; detail?: string };
type AnalysisReport = { verdict: string; steps: { verdict: string; checks: CheckReport[]; samples: { canary: { requests: number }; baseline: { requests: number } } }[] };

describe('progressive strategies on the real runtime: a good model and a bad model', function () {
  this.timeout(300_000);
  let rig: RuntimeRig;
  let job: PipelineJob;
  let good: Model;
  let better: Model;
  let constant: Model;

  const succeeded = (step: TaskRun) => assert.equal(step.result.status, 'Succeeded', `${step.result.message}\n${visibleOutput(step)}`);
  const failed = (step: TaskRun) => assert.equal(step.result.status, 'Failed', visibleOutput(step));

  /** The bundled Bake task: the model folder into the sample app image, pinned by digest. */
  async function bake(name: string, folder: string, version: string, digest: string): Promise<Model> {
    const baked = await job.step(name, {
      taskDir: join(BUNDLED_TASKS, 'BakeModelIntoImageV1'), endpoints: { acr: rig.endpoints.acr }, env: rig.env,
      inputs: { containerRegistry: 'acr', baseImage: `${rig.registry.host}/churn-app:app-1`, tags: name, modelPath: folder, modelVersion: version, modelDigest: digest },
    });
    succeeded(baked);
    return { version, digest, image: baked.outputs.imageRef };
  }

  /** The bundled Deploy task: `model` as app churn-app in `namespace`, proven by its digest and the golden requests. */
  function deploy(name: string, namespace: string, model: Model, strategy: Record<string, string> = {}): Promise<TaskRun> {
    return job.step(name, {
      taskDir: join(BUNDLED_TASKS, 'DeployAiAppToAksV1'), endpoints: rig.endpoints, env: rig.env,
      inputs: {
        kubernetesServiceConnection: 'aks', namespace, appName: 'churn-app', image: model.image, replicas: '2',
        containerPort: '5000', servicePort: '8080', readinessPath: '/healthz', containerRegistry: 'acr', rolloutTimeoutSeconds: '120',
        modelVersion: model.version, modelDigest: model.digest, goldenRequests: join(SAMPLE_APP, 'golden-requests.jsonl'), ...strategy,
      },
    });
  }

  /** What the app behind the load balancer says it serves. */
  async function served(serviceUrl: string): Promise<{ model_version: string; model_digest: string }> {
    const answer = await fetch(`${serviceUrl}/version`);
    assert.equal(answer.status, 200);
    return await answer.json() as { model_version: string; model_digest: string };
  }

  const kubectl = (namespace: string, ...args: string[]) => rig.kubectl('-n', namespace, ...args);

  before(async () => {
    rig = await startRuntimeRig('strategies-runtime', KUBE_TOKEN);
    job = new PipelineJob(run);
    const first = rig.trainModel('model-1.0.0', '1.0.0', 40);
    const second = rig.trainModel('model-1.1.0', '1.1.0', 41);
    const broken = join(rig.work, 'model-9.9.9');
    const brokenDigest = writeConstantPredictor(first, broken);
    good = await bake('bake-good', first, '1.0.0', modelDigest(first));
    better = await bake('bake-better', second, '1.1.0', modelDigest(second));
    constant = await bake('bake-constant', broken, '9.9.9', brokenDigest);
    assert.equal(new Set([good.image, better.image, constant.image]).size, 3);
  });
  after(async () => {
    job?.cleanup();
    await rig?.stop();
  });

  it('canary: promotes the second good model, aborts the constant predictor and leaves the stable Deployment untouched', async () => {
    const ns = 'canary-runtime';
    succeeded(await deploy('canary-stable', ns, good));

    const promoted = await deploy('canary-better', ns, better, CANARY);
    succeeded(promoted);
    assert.equal(promoted.outputs.verdict, 'promoted', visibleOutput(promoted));
    assert.equal(await kubectl(ns, 'get', 'deployment', 'churn-app', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'), better.image);
    const promotedReport = JSON.parse(fs.readFileSync(promoted.outputs.analysisReport, 'utf8')) as AnalysisReport;
    assert.equal(promotedReport.verdict, 'promoted');
    for (const step of promotedReport.steps) {
      assert.ok(step.samples.canary.requests >= 30 && step.samples.baseline.requests >= 30, JSON.stringify(step.samples));
      assert.deepEqual(step.checks.filter((check) => check.verdict !== 'pass'), []);
    }
    const answer = await served(promoted.outputs.serviceUrl);
    assert.equal(answer.model_digest, better.digest);
    assert.equal(answer.model_version, '1.1.0');
    const scored = await fetch(`${promoted.outputs.serviceUrl}/score`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [{ tenure_months: 2, monthly_charges: 105, support_calls: 6, month_to_month: 1, senior: 1 }] }),
    });
    assert.equal(scored.status, 200);
    const prediction = await scored.json() as { predictions: { label: string }[]; model_digest: string };
    assert.deepEqual([prediction.model_digest, prediction.predictions[0]?.label], [better.digest, 'churn'], JSON.stringify(prediction));

    const generation = await kubectl(ns, 'get', 'deployment', 'churn-app', '-o', 'jsonpath={.metadata.generation}');
    const aborted = await deploy('canary-constant', ns, constant, CANARY);
    failed(aborted);
    assert.equal(aborted.outputs.verdict, 'aborted', visibleOutput(aborted));
    const report = JSON.parse(fs.readFileSync(aborted.outputs.analysisReport, 'utf8')) as AnalysisReport;
    assert.equal(report.verdict, 'aborted');
    // The constant predictor answers 0.5 where the golden request expects 0.99: the model check
    // fails, and every replayed golden request counts as an error on the canary, none on the baseline.
    const checks = report.steps[0]?.checks ?? [];
    const model = checks.find((check) => check.check === 'model');
    assert.equal(model?.verdict, 'fail', JSON.stringify(checks));
    assert.match(model?.detail ?? '', /golden request POST \/score .* answered wrongly at \$\.predictions\[0\]\.probability: expected 0\.99 .*got 0\.5/, model?.detail);
    const errors = checks.find((check) => check.check === 'errorRate') as CheckReport & { canaryRate?: number; baselineRate?: number };
    assert.deepEqual([errors?.verdict, errors?.canaryRate, errors?.baselineRate], ['fail', 1, 0], JSON.stringify(errors));
    assert.equal(await kubectl(ns, 'get', 'deployment', 'churn-app', '-o', 'jsonpath={.metadata.generation}'), generation);
    assert.equal(await kubectl(ns, 'get', 'deployment', 'churn-app', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'), better.image);
    assert.deepEqual((await kubectl(ns, 'get', 'deployments', '-o', 'name')).trim().split('\n'), ['deployment.apps/churn-app']);
    assert.equal((await served(promoted.outputs.serviceUrl)).model_digest, better.digest);
    assert.deepEqual(rig.cluster.errors, []);
  });

  it('blueGreen: never switches to the constant predictor, switches to a good model', async () => {
    const ns = 'bluegreen-runtime';
    const stable = await deploy('bluegreen-stable', ns, good);
    succeeded(stable);
    const selector = () => kubectl(ns, 'get', 'service', 'churn-app', '-o', 'jsonpath={.spec.selector}');
    const before = await selector();

    const generation = await kubectl(ns, 'get', 'deployment', 'churn-app', '-o', 'jsonpath={.metadata.generation}');
    const refused = await deploy('bluegreen-constant', ns, constant, BLUE_GREEN);
    failed(refused);
    assert.equal(refused.outputs.verdict, 'aborted', visibleOutput(refused));
    assert.match(refused.result.message, /was not switched to .* through pod 'churn-app-green-[^']+' answered wrongly .* got 0\.5/, refused.result.message);
    assert.equal(await selector(), before);
    assert.equal(await kubectl(ns, 'get', 'deployment', 'churn-app', '-o', 'jsonpath={.metadata.generation}'), generation);
    assert.equal((await served(stable.outputs.serviceUrl)).model_digest, good.digest);

    const switched = await deploy('bluegreen-better', ns, better, BLUE_GREEN);
    succeeded(switched);
    assert.equal(switched.outputs.verdict, 'promoted', visibleOutput(switched));
    assert.equal(switched.outputs.activeColor, 'green');
    const after = JSON.parse(await selector()) as Record<string, string>;
    assert.equal(after['ai-model-delivery-tasks/color'], 'green', JSON.stringify(after));
    const answer = await served(switched.outputs.serviceUrl);
    assert.equal(answer.model_digest, better.digest);
    assert.equal(answer.model_version, '1.1.0');
    assert.deepEqual(rig.cluster.errors, []);
  });

});
