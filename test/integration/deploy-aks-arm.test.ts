/**
 * Deploy AI App To AKS, connectionType azureResourceManager: the task's inputs resolved into a
 * kubeconfig through the Entra, Azure DevOps and AKS stand-ins (in a child process that trusts
 * their test CA), and that kubeconfig then used with @kubernetes/client-node against the cluster
 * simulator, behind an API server front that authenticates as AKS does.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load } from 'js-yaml';
import { type AksStandIn, aksServerAppId, startAksStandIn } from '../support/aksStandIn';
import { type AksProbeResult, runAksProbe } from '../support/aksProbe';
import { type AzureStandIns, clientIds, startAzureStandIns, subscriptionId, tenantId } from '../support/azureStandIns';
import { type ClusterSimulator, startClusterSimulator } from '../support/cluster';
import { ForwardProxy } from '../support/forwardProxy';
import { decodeJwt } from '../support/jwt';
import { type ClientCertificate, createClientCertificate } from '../support/tls';

type Doc = { 'current-context': string; users: { name: string; user: Record<string, unknown> }[]; clusters: { cluster: { server: string } }[] };

describe('Deploy: AKS credentials through Azure Resource Manager', function () {
  let dir: string;
  let s: AzureStandIns;
  let sim: ClusterSimulator;
  let aks: AksStandIn;
  let clientCertificate: ClientCertificate;
  /** Everything a user could see (messages, log lines, describe, stderr): scanned for secrets at the end. */
  const visible: string[] = [];
  const secretsSeen = new Set<string>();

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-aks-arm-'));
    s = await startAzureStandIns(dir);
    sim = await startClusterSimulator({ auth: { token: `sim-${Math.random().toString(36).slice(2)}` } });
    clientCertificate = createClientCertificate(path.join(dir, 'kube'), 'aks-client');
    aks = await startAksStandIn({
      tls: s.ca, verifyToken: s.entra.verifyAccessToken, tenantId, subscriptionId, clientCertificate,
      upstream: { url: sim.url, caPem: sim.caPem, token: sim.token },
      clusters: [
        { resourceGroup: 'rg-ai', name: 'aks-local', auth: 'local' },
        { resourceGroup: 'rg-ai', name: 'aks-entra', auth: 'entra' },
        { resourceGroup: 'rg-ai', name: 'aks-legacy', auth: 'entra', entraFormat: 'azure' },
        { resourceGroup: 'rg-ai', name: 'aks-nolocal', auth: 'entra', disableLocalAccounts: true },
        { resourceGroup: 'rg-locked', name: 'aks-locked', auth: 'local', users: ['someone-else'], admins: ['someone-else'] },
        { resourceGroup: 'rg-flawed', name: 'aks-http', auth: 'local', kubeconfigFlaw: 'httpServer' },
        { resourceGroup: 'rg-flawed', name: 'aks-nocontext', auth: 'local', kubeconfigFlaw: 'noCurrentContext' },
      ],
    });
  });

  after(async function () {
    await aks?.close();
    await sim?.stop();
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function resolve(which: 'secret' | 'federated', inputs: Record<string, string>, env: Record<string, string> = {}, connect = false): Promise<AksProbeResult> {
    const connection = { ...s.connections[which], url: aks.url };
    const { id, ...endpoint } = connection;
    const o = s.oidc;
    const variables = {
      'System.CollectionUri': o.collectionUri!, 'System.TeamProjectId': o.projectId!, 'System.HostType': o.hub!,
      'System.PlanId': o.planId!, 'System.JobId': o.jobId!, 'System.AccessToken': o.accessToken!,
    };
    const run = await runAksProbe({
      inputs: { connectionType: 'azureResourceManager', azureSubscription: id, resourceGroup: 'rg-ai', ...inputs },
      endpoints: { [id]: endpoint }, variables, connect,
    }, { ...s.processEnv, ...env });
    const { result } = run;
    visible.push(run.stderr, ...result.lines, result.describe ?? '', result.error?.message ?? '');
    for (const secret of [...(result.secrets ?? []), ...result.registered]) secretsSeen.add(secret);
    return result;
  }

  function resolved(result: AksProbeResult): { kubeconfig: string; doc: Doc } {
    assert.ok(result.ok, `expected a kubeconfig, got ${JSON.stringify(result.error)}`);
    return { kubeconfig: result.kubeconfig!, doc: load(result.kubeconfig!) as Doc };
  }

  function failed(result: AksProbeResult, key: string): NonNullable<AksProbeResult['error']> {
    assert.ok(!result.ok, `expected ${key}, got a kubeconfig`);
    assert.equal(result.error?.key, key, result.error?.message);
    return result.error!;
  }

  /** The proof: the kubeconfig lists the simulator's namespaces through the front. */
  async function namespaces(kubeconfig: string): Promise<string[]> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromString(kubeconfig);
    const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
    return list.items.map((namespace) => namespace.metadata?.name ?? '').sort();
  }

  it('local accounts: the cluster user credential, every credential in it registered, and it works', async function () {
    const result = await resolve('secret', { kubernetesCluster: 'aks-local' });
    const { kubeconfig, doc } = resolved(result);
    const user = doc.users[0].user;
    assert.equal(user.token, aks.userToken);
    assert.equal(doc.clusters[0].cluster.server, aks.apiServerUrl);
    for (const secret of [aks.userToken, user['client-key-data'] as string]) assert.ok(result.registered.includes(secret), 'a credential was not registered');
    assert.equal(result.describe, 'cluster aks-local in rg-ai (cluster user credentials, local account)');
    assert.ok(result.lines.includes(`Kubernetes cluster: ${result.describe}.`));
    assert.deepEqual(aks.requests.slice(-2).map((r) => [r.method, r.path.split('/').pop(), r.appId, r.status]), [
      ['GET', 'aks-local', clientIds.secret, 200], ['POST', 'listClusterUserCredential', clientIds.secret, 200],
    ]);
    assert.ok((await namespaces(kubeconfig)).includes('default'));
    assert.equal(aks.apiRequests.at(-1)?.identity, 'clusterUser');
  });

  it('reaches Azure DevOps (OIDC), Entra and AKS (ARM) through the agent\'s proxy', async function () {
    const proxy = await ForwardProxy.start();
    try {
      resolved(await resolve('federated', { kubernetesCluster: 'aks-entra' }, { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '', no_proxy: '' }));
      assert.deepEqual([...proxy.peers()].sort(), [s.oidc.collectionUri!, s.entra.authorityHost, aks.url].map((url) => new URL(url).host).sort());
    } finally {
      await proxy.close();
    }
  });

  it('useClusterAdmin: the cluster admin credential', async function () {
    const result = await resolve('secret', { kubernetesCluster: 'aks-local', useClusterAdmin: 'true' });
    const { kubeconfig, doc } = resolved(result);
    assert.equal(doc.users[0].user.token, aks.adminToken);
    assert.equal(doc['current-context'], 'aks-local-admin');
    assert.equal(aks.requests.at(-1)?.path.split('/').pop(), 'listClusterAdminCredential');
    assert.match(result.describe!, /cluster admin credentials/);
    await namespaces(kubeconfig);
    assert.equal(aks.apiRequests.at(-1)?.identity, 'clusterAdmin');
  });

  for (const which of ['secret', 'federated'] as const) {
    it(`Entra ID cluster (${which === 'secret' ? 'service principal secret' : 'workload identity federation'}): kubelogin replaced by the connection's token for the AKS server app`, async function () {
      const before = s.entra.tokenRequests.length;
      const result = await resolve(which, { kubernetesCluster: 'aks-entra' });
      const { kubeconfig, doc } = resolved(result);
      const clientId = which === 'secret' ? clientIds.secret : clientIds.federated;
      const aksScope = s.entra.tokenRequests.slice(before).find((r) => r.scope === `${aksServerAppId}/.default`);
      assert.deepEqual([aksScope?.clientId, aksScope?.outcome], [clientId, 'issued'], 'Entra was asked for the AKS server application scope');
      const user = doc.users[0].user;
      assert.deepEqual(Object.keys(user), ['token']);
      assert.ok(!/exec|kubelogin/.test(kubeconfig));
      const claims = decodeJwt(user.token as string)?.payload;
      assert.deepEqual([claims?.aud, claims?.appid, claims?.tid], [aksServerAppId, clientId, tenantId]);
      assert.ok(result.registered.includes(user.token as string), 'the Entra token was not registered');
      const minutes = (Date.parse(result.expiresOn!) - Date.now()) / 60_000;
      assert.ok(minutes > 50 && minutes <= 60, `token valid for ${minutes} min`);
      assert.match(result.describe!, /^cluster aks-entra in rg-ai \(Microsoft Entra ID token of service connection '.+', valid until \d{4}-/);
      assert.ok(result.lines.some((line) => /uses Microsoft Entra ID: .*about (59|60) minutes/.test(line)), result.lines.join('\n'));
      assert.ok((await namespaces(kubeconfig)).includes('kube-system'));
      assert.equal(aks.apiRequests.at(-1)?.identity, `entra:${clientId}`);
    });
  }

  it('Entra ID cluster with the legacy azure auth-provider user', async function () {
    const { kubeconfig, doc } = resolved(await resolve('secret', { kubernetesCluster: 'aks-legacy' }));
    assert.deepEqual(Object.keys(doc.users[0].user), ['token']);
    assert.ok(!/auth-provider/.test(kubeconfig));
    await namespaces(kubeconfig);
  });

  it('useClusterAdmin on a cluster with local accounts disabled: a clear error before asking for credentials', async function () {
    const before = aks.requests.length;
    const error = failed(await resolve('secret', { kubernetesCluster: 'aks-nolocal', useClusterAdmin: 'true' }), 'AksLocalAccountsDisabled');
    assert.equal(error.setting, 'useClusterAdmin');
    assert.equal(error.input, 'useClusterAdmin');
    assert.match(error.message, /^Input 'useClusterAdmin' is true/);
    assert.match(error.message, /'aks-nolocal' in resource group 'rg-ai' has local accounts disabled.*Set useClusterAdmin to false/);
    assert.deepEqual(aks.requests.slice(before).map((r) => r.method), ['GET']);
  });

  it('a cluster that is not there: names it, its resource group and subscription, and lists the clusters there', async function () {
    const error = failed(await resolve('federated', { kubernetesCluster: 'aks-prod' }), 'AksClusterNotFound');
    assert.equal(error.setting, 'cluster');
    assert.equal(error.input, 'kubernetesCluster');
    assert.match(error.message, /^Input 'kubernetesCluster' is 'aks-prod'/);
    assert.match(error.message, new RegExp(`'aks-prod', but resource group 'rg-ai' of subscription '${subscriptionId}'`));
    assert.match(error.message, /Clusters in that resource group: aks-local, aks-entra, aks-legacy, aks-nolocal\./);
  });

  it('a resource group that is not there', async function () {
    const error = failed(await resolve('secret', { resourceGroup: 'rg-gone', kubernetesCluster: 'aks-prod' }), 'AksResourceGroupNotFound');
    assert.equal(error.setting, 'resourceGroup');
    assert.equal(error.input, 'resourceGroup');
    assert.match(error.message, /^Input 'resourceGroup' is 'rg-gone'/);
    assert.match(error.message, /'rg-gone'/);
  });

  it('403: says which role to assign, for user and for admin credentials', async function () {
    const user = failed(await resolve('secret', { resourceGroup: 'rg-locked', kubernetesCluster: 'aks-locked' }), 'AksForbidden');
    assert.match(user.message, /list the cluster user credentials of AKS cluster 'aks-locked'.*AuthorizationFailed.*'Azure Kubernetes Service Cluster User Role'/);
    const admin = failed(await resolve('secret', { resourceGroup: 'rg-locked', kubernetesCluster: 'aks-locked', useClusterAdmin: 'true' }), 'AksForbidden');
    assert.match(admin.message, /'Azure Kubernetes Service Cluster Admin Role'/);
  });

  // The kubeconfig came from AKS through azureSubscription, resourceGroup and kubernetesCluster: a
  // problem with it is the cluster's credentials, never a Kubernetes service connection's.
  const flawed: [string, string, string, RegExp][] = [
    ['whose server is plain http (refused when the task connects)', 'aks-http', 'false', /cluster 'aks-http' has server 'http:\/\/[^']+', which is not an https:\/\/ URL/],
    ['without a current-context (refused as it is read)', 'aks-nocontext', 'false', /no current-context/],
    ['as admin credentials', 'aks-http', 'true', /which is not an https:\/\/ URL/],
  ];
  for (const [title, cluster, admin, problem] of flawed) {
    it(`a kubeconfig from AKS ${title}: names the inputs it came from and says AKS issued it`, async function () {
      const error = failed(await resolve('secret', { resourceGroup: 'rg-flawed', kubernetesCluster: cluster, useClusterAdmin: admin }, {}, true), 'AksCredentialsUnusable');
      assert.notEqual(error.input, 'kubernetesServiceConnection', error.message);
      assert.equal(error.input, 'kubernetesCluster');
      assert.match(error.message, new RegExp(`^Inputs 'azureSubscription', 'resourceGroup' and 'kubernetesCluster' name AKS cluster '${cluster}' in resource group 'rg-flawed' \\(service connection '[^']+'\\)`));
      assert.match(error.message, new RegExp(`the cluster ${admin === 'true' ? 'admin' : 'user'} credentials AKS returned for it cannot be used`));
      assert.match(error.message, problem);
      assert.doesNotMatch(error.message, /Kubernetes service connection|kubernetesServiceConnection/);
    });
  }

  it('retries a 503', async function () {
    aks.failNext(1, 503);
    const before = aks.requests.length;
    resolved(await resolve('secret', { kubernetesCluster: 'aks-local' }));
    assert.deepEqual(aks.requests.slice(before).map((r) => r.status), [503, 200, 200]);
  });

  it('no secret reached any message, log line or stderr', function () {
    const secrets = [s.clientSecret, s.systemAccessToken, aks.userToken, aks.adminToken, sim.token!, ...secretsSeen].filter((secret) => secret.length >= 8);
    assert.ok(secretsSeen.size > 5, 'the scan has secrets to look for');
    for (const text of visible) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 6)}...) reached: ${text.slice(0, 300)}`);
    }
  });
});
