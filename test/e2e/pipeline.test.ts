/**
 * The whole pipeline, as the agent runs it: the three bundles in one job, each step's inputs taking
 * the earlier steps' output variables through `$(step.output)` macros, exactly as the YAML reads:
 *
 *   - task: FetchLatestModel@1   name: fetch   (Azurite; tagQuery stage = 'approved')
 *   - task: BakeModelIntoImage@1 name: bake    (registry with basic auth over TLS, as ACR)
 *       modelPath: $(fetch.modelPath)  modelVersion: $(fetch.modelVersion)  modelDigest: $(fetch.modelDigest)
 *   - task: DeployAiAppToAks@1   name: deploy  (cluster simulator over HTTPS, token auth)
 *       image: $(bake.imageRef)  modelVersion: $(fetch.modelVersion)  modelDigest: $(fetch.modelDigest)
 *
 * Each step's effect is checked where it lands (storage account, registry, cluster), then a newer
 * model is approved and the pipeline runs again: only the model layer moves and the rollout goes
 * to revision 2. Every run's output is searched for every secret the pipeline used.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { startAzurite, type Azurite } from '../support/azurite';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { ModelPublisher, randomBytes, sha256 } from '../support/modelStore';
import { PipelineJob } from '../support/pipelineJob';
import { pushBaseImage } from '../support/registry/baseImages';
import { registryHolds } from '../support/registry/http';
import { skopeoInspect, unpackImage } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, visibleOutput, type TaskRun } from '../support/taskRunner';

const tasks = join(__dirname, '..', '..', 'dist', 'tasks');
const KUBE_TOKEN = 'e2e-pipeline-kube-token-51c2e8';
const run = { 'System.Debug': 'true', 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'c0ffee' };

/** A model version as a data scientist publishes it: a few files, each with its sha256 metadata and a stage tag. */
async function publishVersion(publisher: ModelPublisher, version: string, stage: string): Promise<void> {
  const files: Record<string, Buffer> = {
    'model.json': Buffer.from(JSON.stringify({ kind: 'logistic-regression', version, bias: -0.4 })),
    'weights.bin': randomBytes(256 * 1024),
    'tokenizer/vocab.txt': Buffer.from(`vocabulary of ${version}\n`),
  };
  for (const [file, data] of Object.entries(files)) await publisher.publish(`churn/${version}/${file}`, data, { tags: { stage } });
}

/** Approval is a tag change on the published blobs, as the data scientists' workflow does it. */
async function approve(publisher: ModelPublisher, version: string): Promise<void> {
  for await (const blob of publisher.container.listBlobsFlat({ prefix: `churn/${version}/` })) {
    await publisher.container.getBlobClient(blob.name).setTags({ stage: 'approved' });
  }
}

/** Relative paths of the files under a folder, sorted. */
function filesUnder(folder: string): string[] {
  return (fs.readdirSync(folder, { recursive: true }) as string[]).filter((file) => fs.statSync(join(folder, file)).isFile()).sort();
}

describe('the pipeline: FetchLatestModel -> BakeModelIntoImage -> DeployAiAppToAks (the bundles, chained as in YAML)', function () {
  this.timeout(120_000);
  let azurite: Azurite;
  let publisher: ModelPublisher;
  let registry: TestRegistry;
  let cluster: ClusterSimulator;
  let home: string;
  let baseLayers: string[];
  const jobs: PipelineJob[] = [];

  const kubectl = (...args: string[]) => new Promise<string>((resolve, reject) => {
    execFile('kubectl', args, { env: { ...process.env, HOME: home, KUBECONFIG: join(home, 'kubeconfig') }, timeout: 30_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout)));
  });

  before(async () => {
    [azurite, registry] = await Promise.all([startAzurite(), startRegistry({ auth: 'basic', tls: true })]);
    cluster = await startClusterSimulator({
      auth: { token: KUBE_TOKEN },
      imageBehaviour: async (image) => ((await registryHolds(registry, image)) ? 'run' : 'pullError'),
      podReadyDelayMs: 100, loadBalancerDelayMs: 200,
    });
    home = fs.mkdtempSync(join(os.tmpdir(), 'pipeline-e2e-'));
    cluster.writeKubeconfig(home);
    publisher = await new ModelPublisher(azurite.connectionString, 'models').create();
    await publishVersion(publisher, '1.0.0', 'approved');
    await publishVersion(publisher, '1.1.0', 'candidate'); // newer, not approved: must not ship
    const base = await pushBaseImage(registry, 'churn-app', 'app-1', 'docker');
    baseLayers = base.platforms[0].layers.map((layer) => layer.digest);
  });
  after(async () => {
    for (const job of jobs) job.cleanup();
    await Promise.all([azurite?.stop(), registry?.stop(), cluster?.stop()]);
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  const secrets = () => ({
    'storage account key': azurite.accountKey, 'storage connection string': azurite.connectionString,
    'registry password': registry.password!, 'registry basic auth': Buffer.from(`${registry.username}:${registry.password}`).toString('base64'),
    'kube token': KUBE_TOKEN,
  });
  const endpoints = () => ({
    acr: { url: `https://${registry.host}`, scheme: 'UsernamePassword', parameters: { registry: `https://${registry.host}`, username: registry.username!, password: registry.password!, email: '' }, data: { registrytype: 'Others' } },
    aks: { url: cluster.url, scheme: 'Kubernetes', parameters: { kubeconfig: cluster.kubeconfig() }, data: { authorizationType: 'Kubeconfig' } },
  });

  /** The three steps as the YAML in this file's header has them; each must succeed before the next runs. */
  async function runPipeline(buildId: string): Promise<PipelineJob> {
    const job = new PipelineJob({ ...run, 'Build.BuildId': buildId }, { StorageConnectionString: azurite.connectionString });
    jobs.push(job);
    const { acr, aks } = endpoints();
    const agentTrust = { NODE_EXTRA_CA_CERTS: join(registry.certDir!, 'ca.crt') }; // the agent machine trusts the registry's CA
    const succeeded = (name: string, step: TaskRun) => assert.equal(step.result.status, 'Succeeded', `step '${name}' (build ${buildId}): ${step.result.message}\n${visibleOutput(step)}`);
    succeeded('fetch', await job.step('fetch', {
      taskDir: join(tasks, 'FetchLatestModelV1'),
      inputs: {
        connectionType: 'connectionString', connectionString: '$(StorageConnectionString)', container: 'models', modelPrefix: 'churn/',
        selection: 'tagQuery', tagQuery: `"stage" = 'approved'`, destination: '$(Agent.TempDirectory)/model',
      },
    }));
    succeeded('bake', await job.step('bake', {
      taskDir: join(tasks, 'BakeModelIntoImageV1'), endpoints: { acr }, env: agentTrust,
      inputs: {
        containerRegistry: 'acr', baseImage: `${registry.host}/churn-app:app-1`, tags: '$(Build.BuildId)',
        modelPath: '$(fetch.modelPath)', modelVersion: '$(fetch.modelVersion)', modelDigest: '$(fetch.modelDigest)',
      },
    }));
    succeeded('deploy', await job.step('deploy', {
      taskDir: join(tasks, 'DeployAiAppToAksV1'), endpoints: { aks, acr }, env: agentTrust,
      inputs: {
        kubernetesServiceConnection: 'aks', namespace: 'churn', appName: 'churn-app', image: '$(bake.imageRef)',
        containerPort: '8080', servicePort: '8080', containerRegistry: 'acr', rolloutTimeoutSeconds: '60',
        modelVersion: '$(fetch.modelVersion)', modelDigest: '$(fetch.modelDigest)',
      },
    }));
    for (const [name, step] of job.steps) {
      assert.doesNotThrow(() => assertNoSecrets(step, secrets()), `step '${name}' (build ${buildId}) leaked a secret`);
    }
    // Registered with the agent, so it masks them wherever they would show.
    const registered = { fetch: [azurite.connectionString], bake: [registry.password!], deploy: [KUBE_TOKEN, registry.password!] };
    for (const [name, values] of Object.entries(registered)) {
      for (const value of values) assert.ok(job.get(name).secretsRegistered.includes(value), `step '${name}' registers each secret it uses`);
    }
    return job;
  }

  /** Storage: the approved version's files, each byte-identical to its blob by the published sha256. */
  async function assertFetched(job: PipelineJob, version: string): Promise<void> {
    const { modelPath, modelVersion, modelUri } = job.get('fetch').outputs;
    assert.equal(modelVersion, version);
    assert.equal(modelUri, `${azurite.blobEndpoint}/models/churn/${version}/`);
    const blobs: string[] = [];
    for await (const blob of publisher.container.listBlobsFlat({ prefix: `churn/${version}/` })) blobs.push(blob.name.slice(`churn/${version}/`.length));
    assert.deepEqual(filesUnder(modelPath), blobs.sort(), 'exactly the files of the chosen version');
    for (const file of blobs) {
      const { metadata } = await publisher.container.getBlobClient(`churn/${version}/${file}`).getProperties();
      assert.equal(sha256(fs.readFileSync(join(modelPath, file))), metadata?.sha256, `${file} matches its blob's sha256 metadata`);
    }
    assert.equal(JSON.parse(fs.readFileSync(join(modelPath, 'model.json'), 'utf8')).version, version);
  }

  /** Registry: the digest holds the base layers, then the model layers, with the model named in env and labels. */
  async function assertBaked(job: PipelineJob, buildId: string): Promise<string[]> {
    const { outputs: fetched } = job.get('fetch');
    const { imageRef, imageDigest, modelLayerDigests } = job.get('bake').outputs;
    assert.equal(imageRef, `${registry.host}/churn-app@${imageDigest}`);
    const image = await skopeoInspect(registry, imageRef);
    assert.equal(image.Digest, imageDigest);
    assert.equal((await skopeoInspect(registry, `churn-app:${buildId}`)).Digest, imageDigest, 'tagged $(Build.BuildId)');
    assert.ok(image.Env?.includes(`MODEL_VERSION=${fetched.modelVersion}`), `env: ${image.Env}`);
    assert.ok(image.Env?.includes(`MODEL_DIGEST=${fetched.modelDigest}`), `env: ${image.Env}`);
    assert.equal(image.Labels?.['ai.model.version'], fetched.modelVersion);
    assert.equal(image.Labels?.['ai.model.digest'], fetched.modelDigest);
    assert.equal(image.Labels?.['com.example.base'], 'true', "the app image's own labels are kept");
    assert.deepEqual(image.Layers, [...baseLayers, ...modelLayerDigests.split(',')]);
    return image.Layers;
  }

  /** Cluster: the Deployment runs the baked digest, says which model it carries, and the load balancer serves it. */
  async function assertDeployed(job: PipelineJob, revision: string): Promise<void> {
    const { modelVersion, modelDigest } = job.get('fetch').outputs;
    const { imageRef } = job.get('bake').outputs;
    const deployed = job.get('deploy').outputs;
    assert.equal(deployed.deployedImage, imageRef);
    assert.equal(deployed.revision, revision);
    assert.equal(deployed.rolledBack, 'false');
    const deployment = JSON.parse(await kubectl('get', 'deployment', 'churn-app', '-n', 'churn', '-o', 'json'));
    assert.equal(deployment.spec.template.spec.containers[0].image, imageRef);
    assert.equal(deployment.spec.template.metadata.annotations['ai.model.version'], modelVersion);
    assert.equal(deployment.spec.template.metadata.annotations['ai.model.digest'], modelDigest);
    assert.equal(deployment.metadata.annotations['deployment.kubernetes.io/revision'], revision);
    assert.match(await kubectl('rollout', 'status', 'deployment/churn-app', '-n', 'churn', '--timeout=10s'), /successfully rolled out/);
    const served = await (await fetch(deployed.serviceUrl)).json() as { image: string };
    assert.equal(served.image, imageRef, 'the load balancer serves the new image');
  }

  let firstLayers: string[];
  let firstImage: string;

  it('ships the newest approved model: fetched verified, baked onto the app image, rolled out by digest', async () => {
    const job = await runPipeline('101');
    await assertFetched(job, '1.0.0'); // 1.1.0 is newer but only a candidate
    firstLayers = await assertBaked(job, '101');
    firstImage = job.get('bake').outputs.imageRef;
    const unpacked = await unpackImage(registry, firstImage);
    try {
      const fetched = job.get('fetch').outputs.modelPath;
      for (const file of filesUnder(fetched)) assert.ok(fs.readFileSync(join(unpacked.rootfs, 'models', file)).equals(fs.readFileSync(join(fetched, file))), `/models/${file} in the image`);
    } finally {
      await unpacked.cleanup();
    }
    await assertDeployed(job, '1');
  });

  it('ships a newly approved model: only the model layer moves, and the rollout goes to revision 2', async () => {
    assert.ok(firstImage, 'the first pipeline run must have passed');
    await publishVersion(publisher, '1.2.0', 'candidate');
    await approve(publisher, '1.2.0');
    const job = await runPipeline('102');
    await assertFetched(job, '1.2.0');
    const layers = await assertBaked(job, '102');
    assert.deepEqual(layers.slice(0, baseLayers.length), firstLayers.slice(0, baseLayers.length), 'the base layers are the same blobs');
    assert.notDeepEqual(layers.slice(baseLayers.length), firstLayers.slice(baseLayers.length), 'a new model layer');
    assert.equal(layers.length, firstLayers.length);
    assert.ok(Number(job.get('bake').outputs.bytesReused) > 0, 'the base layers were not uploaded again');
    assert.notEqual(job.get('bake').outputs.imageRef, firstImage);
    await assertDeployed(job, '2');
    const revisions = cluster.list('ReplicaSet', 'churn') as Array<{ metadata: { annotations?: Record<string, string> } }>;
    assert.deepEqual(revisions.map((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision']).sort(), ['1', '2']);
    assert.deepEqual(cluster.errors, [], 'the cluster simulator recorded no internal errors');
  });
});
