/**
 * The bundled Deploy task with privateCluster: true, run as the agent runs it, against the AKS
 * stand-in: an AzureRM service connection (client secret, Entra stand-in), ARM's runCommand and
 * commandResults, whose commands run with bash and the real kubectl against the cluster simulator.
 * The agent machine trusts the stand-ins' test CA as a real agent trusts an enterprise CA: through
 * NODE_EXTRA_CA_CERTS (azureStandIns' processEnv). The outputs are those of the normal path, the
 * model check runs inside the command, and no credential reaches the log.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { type AksStandIn, startAksStandIn } from '../support/aksStandIn';
import { type AzureStandIns, startAzureStandIns, subscriptionId, tenantId } from '../support/azureStandIns';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { assertNoSecrets, runTask, type TaskRun, visibleOutput } from '../support/taskRunner';
import { createClientCertificate } from '../support/tls';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'DeployAiAppToAksV1');
const digest = `sha256:${'c'.repeat(64)}`;
const otherDigest = `sha256:${'e'.repeat(64)}`;
/** A JWT as Entra issues them: none may reach the log, whichever token it is. */
const jwt = /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;

describe('DeployAiAppToAks e2e, private cluster through AKS run command (the bundle as the agent runs it)', function () {
  this.timeout(180_000);
  let dir: string;
  let azure: AzureStandIns;
  let sim: ClusterSimulator;
  let aks: AksStandIn;

  before(async () => {
    dir = fs.mkdtempSync(join(os.tmpdir(), 'deploy-private-e2e-'));
    azure = await startAzureStandIns(join(dir, 'azure'));
    // A stale image serves another model whatever its pod template says: what a moved tag looks like.
    sim = await startClusterSimulator({
      auth: { token: `sim-${Math.random().toString(36).slice(2)}` }, podReadyDelayMs: 100, loadBalancerDelayMs: 200,
      podApp: (request) => (request.container.image?.includes(':stale') && request.path === '/version' ? { status: 200, body: { model_digest: otherDigest } } : undefined),
    });
    fs.mkdirSync(join(dir, 'sim'));
    aks = await startAksStandIn({
      tls: azure.ca, verifyToken: azure.entra.verifyAccessToken, tenantId, subscriptionId, clientCertificate: createClientCertificate(join(dir, 'kube'), 'aks-client'),
      upstream: { url: sim.url, caPem: sim.caPem, token: sim.token },
      clusters: [{ resourceGroup: 'rg-private', name: 'aks-private', auth: 'entra' }],
      runCommandKubeconfig: sim.writeKubeconfig(join(dir, 'sim')),
    });
  });
  after(async () => {
    await aks?.close();
    await sim?.stop();
    await azure?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const deploy = (image: string) => {
    const { id, ...connection } = { ...azure.connections.secret, url: aks.url };
    return runTask({
      taskDir, endpoints: { [id]: { url: connection.url, scheme: connection.scheme ?? 'ServicePrincipal', parameters: { ...connection.auth }, data: { ...connection.data } } },
      env: azure.processEnv,
      inputs: {
        connectionType: 'azureResourceManager', azureSubscription: id, resourceGroup: 'rg-private', kubernetesCluster: 'aks-private', privateCluster: 'true',
        namespace: 'churn', createNamespace: 'true', appName: 'churn-app', containerPort: '8080', servicePort: '8080',
        image, modelVersion: '1.2.0', modelDigest: digest, rolloutTimeoutSeconds: '60', loadBalancerTimeoutSeconds: '30',
      },
    });
  };
  /** `from`: the first run command this run sent. */
  const assertNothingLeaked = (run: TaskRun, from: number) => {
    const tokens = aks.runCommands.records.slice(from).map((record) => record.clusterToken ?? '');
    assert.ok(tokens.length > 0 && tokens.every(Boolean), 'each command carried the token for the AKS server application');
    for (const token of tokens) assert.ok(run.secretsRegistered.includes(token), 'the cluster token is registered as a secret');
    assertNoSecrets(run, { 'client secret': azure.clientSecret, ...Object.fromEntries(tokens.map((token, i) => [`cluster token ${i}`, token])) });
    assert.doesNotMatch(visibleOutput(run), jwt, 'no token of any kind in the log');
  };
  const template = () => (sim.get('Deployment', 'churn', 'churn-app') as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0].image;

  it('rolls out through the run command and publishes the normal path\'s outputs, with the model proven by every ready pod', async () => {
    const image = 'registry.example/churn-app:1';
    const before = aks.runCommands.records.length;
    const run = await deploy(image);
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.equal(run.outputs.deploymentName, 'churn-app');
    assert.equal(run.outputs.deployedImage, image);
    assert.equal(run.outputs.rolledBack, 'false');
    assert.equal(run.outputs.modelVerified, 'true');
    const deployment = sim.get('Deployment', 'churn', 'churn-app') as { metadata: { annotations: Record<string, string> } };
    assert.equal(run.outputs.revision, deployment.metadata.annotations['deployment.kubernetes.io/revision']);
    assert.deepEqual(JSON.parse(run.outputs.workloads), [{ kind: 'Deployment', name: 'churn-app', namespace: 'churn', revision: Number(run.outputs.revision), images: [image] }]);
    const balancer = sim.loadBalancers().find((lb) => lb.name === 'churn-app');
    assert.ok(balancer, 'the Service has a load balancer');
    assert.equal(run.outputs.serviceIp, balancer.ip);
    assert.equal(run.outputs.serviceUrl, `http://${balancer.ip}:8080`);
    assert.match(visibleOutput(run), /Model check: pod 'churn-app-[a-z0-9-]+' serves model digest sha256:c{64}/);
    assert.ok(aks.runCommands.records.length >= 1 && aks.runCommands.records.every((record) => /timeout \d+ kubectl get --raw '\/api\/v1\/namespaces\/churn\/pods\/'"\$pod"':8080\/proxy\/version'/.test(record.command)), 'the model check ran inside the command');
    assert.ok(!sim.requests.some((request) => request.path.includes('/proxy/') && !/\/pods\/churn-app-[^/]+:8080\/proxy\/version$/.test(request.path)), 'only the pods were asked, through the pod proxy');
    const summary = run.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary');
    assert.ok(summary?.content?.includes(image) && summary.content.includes('every ready pod reported the deployed digest'), 'the same run summary as the normal path');
    assertNothingLeaked(run, before);
  });

  it('a stale image serving another model is undone by a second command; the task fails with ModelCheckFailed naming pod, served and deployed digest', async () => {
    const before = aks.runCommands.records.length;
    const run = await deploy('registry.example/churn-app:stale');
    assert.equal(run.result.status, 'Failed', visibleOutput(run));
    assert.match(run.result.message, new RegExp(`pod 'churn-app-[a-z0-9-]+' serves model digest ${otherDigest}, but ${digest} was deployed`));
    assert.equal(run.outputs.rolledBack, 'true');
    assert.equal(run.outputs.modelVerified, 'false');
    assert.equal(run.outputs.deployedImage, 'registry.example/churn-app:1');
    assert.equal(aks.runCommands.records.length, before + 2, 'the deploy, then the undo');
    assert.equal(template(), 'registry.example/churn-app:1', 'the image before the run is back');
    assertNothingLeaked(run, before);
  });
});
