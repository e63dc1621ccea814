import { strict as assert } from 'node:assert';
import { inspect } from 'node:util';
import { load } from 'js-yaml';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { type ClusterAccessRequest, resolveKubeconfig } from '../../tasks/common/azure/clusterAccess';
import { connectCluster } from '../../tasks/common/kube/cluster';
import { readClusterAccess } from '../../tasks/common/pipeline/kubeConnection';
import { deploySettings } from '../../tasks/common/pipeline/deployInputs';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { fakeAgent, type RecordingAgent } from '../support/fakeAgent';
import type { EndpointSpec } from '../support/fakeAzureEndpoint';

const token = 'eyJhbGciOiJSUzI1NiJ9.c2VydmljZS1hY2NvdW50.c2lnbmF0dXJlLXRoYXQtaXMtc2VjcmV0';
const keyPem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7secretkeyline\n-----END PRIVATE KEY-----\n';
const keyData = Buffer.from(keyPem).toString('base64');
const caPem = '-----BEGIN CERTIFICATE-----\nMIIDazCCAlOgAwIBAgIUZ3Rlc3QtY2EtY2VydGlmaWNhdGU\n-----END CERTIFICATE-----\n';
const caData = Buffer.from(caPem).toString('base64');

const kubeconfigYaml = [
  'apiVersion: v1', 'kind: Config',
  'clusters:',
  '- name: prod', '  cluster:', '    server: https://aks-prod-dns.hcp.westeurope.azmk8s.io:443', `    certificate-authority-data: ${caData}`,
  '- name: staging', '  cluster:', '    server: https://staging.example.com:6443',
  'users:',
  '- name: deployer', '  user:', `    token: ${token}`,
  '- name: cert-user', '  user:', `    client-key-data: ${keyData}`, `    client-certificate-data: ${caData}`,
  'contexts:',
  '- name: prod', '  context:', '    cluster: prod', '    user: deployer', '    namespace: ai',
  '- name: staging', '  context:', '    cluster: staging', '    user: cert-user',
  'current-context: prod', '',
].join('\n');

const kubeconfigConnection: Omit<EndpointSpec, 'id'> = { url: 'https://aks-prod-dns.hcp.westeurope.azmk8s.io', scheme: 'Kubernetes', auth: { kubeconfig: kubeconfigYaml }, data: { authorizationType: 'Kubeconfig' } };
const serviceAccountConnection: Omit<EndpointSpec, 'id'> = {
  url: 'https://10.0.0.1:6443', scheme: 'Token',
  auth: { apiToken: Buffer.from(token).toString('base64'), serviceAccountCertificate: caData, isCreatedFromSecretYaml: 'true' },
  data: { authorizationType: 'ServiceAccount' },
};
const azureSubscriptionConnection: Omit<EndpointSpec, 'id'> = {
  url: 'https://aks-prod-dns.hcp.westeurope.azmk8s.io', scheme: 'Kubernetes',
  auth: { azureEnvironment: 'AzureCloud', azureTenantId: 'tenant-1', apiToken: Buffer.from(token).toString('base64'), serviceAccountCertificate: caData, serviceAccountName: 'azdev-sa-1', roleBindingName: 'azdev-rb-1', secretName: 'azdev-sa-1-token' },
  data: { authorizationType: 'AzureSubscription', azureSubscriptionId: 'sub-1', azureSubscriptionName: 'Prod', clusterId: '/subscriptions/sub-1/resourcegroups/rg-ai/providers/Microsoft.ContainerService/managedClusters/aks-prod', namespace: 'ai' },
};
const armConnection: Omit<EndpointSpec, 'id'> = {
  url: 'https://management.azure.com/', scheme: 'WorkloadIdentityFederation',
  auth: { tenantid: 'tenant-1', serviceprincipalid: 'client-1' }, data: { subscriptionId: 'sub-1' },
};

type Spec = Omit<EndpointSpec, 'id'>;
function withChanges(spec: Spec, auth: Record<string, string | undefined> = {}, data: Record<string, string | undefined> = {}, rest: Partial<Spec> = {}): Spec {
  const drop = (values: Record<string, string | undefined>) => Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return { ...spec, ...rest, auth: drop({ ...spec.auth, ...auth }), data: drop({ ...spec.data, ...data }) };
}

function agentFor(inputs: Record<string, string>, endpoint: Spec = kubeconfigConnection): RecordingAgent {
  return fakeAgent(inputs, { endpoints: { 'k8s-prod': endpoint }, variables: { 'System.TeamProjectId': 'p1' } });
}

function connect(endpoint: Spec, inputs: Record<string, string> = {}): { agent: RecordingAgent; access: ClusterAccessRequest } {
  const agent = agentFor({ kubernetesServiceConnection: 'k8s-prod', ...inputs }, endpoint);
  return { agent, access: readClusterAccess(agent) };
}

async function kubeconfigOf(endpoint: Spec): Promise<{ agent: RecordingAgent; doc: Record<string, any>; describe: string }> {
  const { agent, access } = connect(endpoint);
  const resolved = await resolveKubeconfig(access, { setSecret: agent.setSecret, log: agent.log, network: agent.network() });
  return { agent, doc: load(resolved.kubeconfig) as Record<string, any>, describe: resolved.describe };
}

/** Reads, expects an InputError naming `input`, and checks the message for `patterns` and against every secret. */
function rejects(inputs: Record<string, string>, endpoint: Spec | undefined, input: string, key: string, patterns: RegExp[]): InputError {
  const agent = fakeAgent(inputs, { endpoints: endpoint ? { 'k8s-prod': endpoint } : {} });
  let caught: unknown;
  try {
    readClusterAccess(agent);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InputError, `expected an InputError, got ${String(caught)}`);
  assert.equal(caught.key, key, caught.message);
  assert.equal(caught.input, input);
  assert.match(caught.message, new RegExp(`'${input}'`));
  for (const pattern of patterns) assert.match(caught.message, pattern);
  for (const secret of [token, keyData, Buffer.from(token).toString('base64'), 'secretkeyline']) assert.ok(!caught.message.includes(secret), `a secret reached: ${caught.message}`);
  return caught;
}

const viaKubernetes = { kubernetesServiceConnection: 'k8s-prod' };
const viaArm = { connectionType: 'azureResourceManager', azureSubscription: 'k8s-prod', resourceGroup: 'rg-ai', kubernetesCluster: 'aks-prod' };

describe('Deploy cluster access: Kubernetes service connections', () => {
  it('Kubeconfig: keeps the file, uses its current-context, registers every credential', async () => {
    const { agent, doc, describe } = await kubeconfigOf(kubeconfigConnection);
    assert.equal(doc['current-context'], 'prod');
    assert.equal(doc.users[0].user.token, token);
    assert.equal(doc.clusters[0].cluster['certificate-authority-data'], caData);
    for (const secret of [token, keyData, keyPem.trim()]) assert.ok(agent.secrets.includes(secret), `not registered: ${secret.slice(0, 20)}`);
    assert.ok(!agent.secrets.includes(caData), 'a CA is not a secret');
    assert.equal(describe, "aks-prod-dns.hcp.westeurope.azmk8s.io (context prod of service connection 'k8s-prod')");
    assert.ok(agent.lines.includes(`Kubernetes cluster: ${describe}.`));
  });

  it('Kubeconfig: the connection\'s clusterContext picks the context, and an empty authorizationType means Kubeconfig', async () => {
    const { doc } = await kubeconfigOf(withChanges(kubeconfigConnection, { clusterContext: 'staging' }, { authorizationType: undefined }));
    assert.equal(doc['current-context'], 'staging');
  });

  it('keeps the kubeconfig and its secrets out of JSON and inspect output of the request', () => {
    const { access } = connect(kubeconfigConnection);
    assert.ok(!JSON.stringify(access).includes(token) && !inspect(access).includes(token));
    assert.ok(access.kind === 'serviceConnection' && access.kubeconfig.includes(token) && Object.isFrozen(access));
  });

  it('ServiceAccount: server URL, base64-decoded token, the CA as Microsoft\'s tasks pass it', async () => {
    const { agent, doc, describe } = await kubeconfigOf(serviceAccountConnection);
    assert.equal(doc.clusters[0].cluster.server, 'https://10.0.0.1:6443');
    assert.equal(doc.clusters[0].cluster['certificate-authority-data'], caData);
    assert.equal(doc.users[0].user.token, token);
    assert.ok(agent.secrets.includes(token) && agent.secrets.includes(Buffer.from(token).toString('base64')));
    assert.match(describe, /^10\.0\.0\.1:6443 \(service account token of service connection 'k8s-prod'\)$/);
  });

  it('ServiceAccount: a pasted PEM CA is encoded, a raw JWT token is taken as is', async () => {
    const { doc } = await kubeconfigOf(withChanges(serviceAccountConnection, { serviceAccountCertificate: caPem, apiToken: token }));
    assert.equal(doc.clusters[0].cluster['certificate-authority-data'], caData);
    assert.equal(doc.users[0].user.token, token);
  });

  it('AzureSubscription: the stored service account token, in the connection\'s namespace', async () => {
    const { doc, agent } = await kubeconfigOf(azureSubscriptionConnection);
    assert.equal(doc.users[0].user.token, token);
    assert.equal(doc.contexts[0].context.namespace, 'ai');
    assert.ok(agent.secrets.includes(token));
  });

  it('acceptUntrustedCerts: skips TLS verification (no CA beside it) and warns', async () => {
    const { doc, agent, describe } = await kubeconfigOf(withChanges(kubeconfigConnection, {}, { acceptUntrustedCerts: 'true' }));
    for (const cluster of doc.clusters) {
      assert.equal(cluster.cluster['insecure-skip-tls-verify'], true);
      assert.equal(cluster.cluster['certificate-authority-data'], undefined);
    }
    assert.ok(agent.lines.some((line) => /^WARNING .*'k8s-prod'.*insecure-skip-tls-verify/.test(line)));
    assert.match(describe, /TLS not verified/);
  });

  it('azureResourceManager: reads the connection, resource group, cluster and useClusterAdmin without any request', () => {
    const agent = agentFor({ ...viaArm, useClusterAdmin: 'true' }, armConnection);
    const access = readClusterAccess(agent);
    assert.equal(access.kind, 'aks');
    if (access.kind !== 'aks') return;
    assert.deepEqual([access.connection.scheme, access.connection.subscriptionId, access.resourceGroup, access.clusterName, access.useClusterAdmin], ['WorkloadIdentityFederation', 'sub-1', 'rg-ai', 'aks-prod', true]);
    assert.equal(access.devOps.serviceConnectionId, 'k8s-prod');
    assert.equal(readClusterAccess(agentFor({ ...viaArm, resourceGroup: 'Rg_(ü).1', kubernetesCluster: 'a' }, armConnection)).kind, 'aks');
  });

  it('azureResourceManager: privateCluster is false unless set, true when set', () => {
    const read = (inputs: Record<string, string>) => {
      const access = readClusterAccess(agentFor({ ...viaArm, ...inputs }, armConnection));
      return access.kind === 'aks' ? access.privateCluster : undefined;
    };
    assert.deepEqual([read({}), read({ privateCluster: 'true' }), read({ privateCluster: 'False' })], [false, true, false]);
  });
});

describe('Deploy cluster access: bad input names the input, the value and what is accepted', () => {
  const kubeconfigWith = (auth: Record<string, string | undefined>, data: Record<string, string | undefined> = {}) => withChanges(kubeconfigConnection, auth, data);

  it('no Kubernetes service connection', () => {
    rejects({}, kubeconfigConnection, 'kubernetesServiceConnection', 'InputRequired', [/connectionType is 'kubernetesServiceConnection'/]);
  });

  it('a service connection the job cannot see', () => {
    rejects({ kubernetesServiceConnection: 'k8s-nope' }, kubeconfigConnection, 'kubernetesServiceConnection', 'EndpointMissing', [/'k8s-nope'/, /authorized/]);
  });

  it('an unknown authorization type', () => {
    rejects(viaKubernetes, kubeconfigWith({}, { authorizationType: 'UsernamePassword' }), 'kubernetesServiceConnection', 'KubeConnectionAuthTypeUnsupported', [/'k8s-prod'/, /'UsernamePassword'/, /Kubeconfig, ServiceAccount, AzureSubscription/]);
  });

  it('a Kubeconfig connection without a kubeconfig', () => {
    rejects(viaKubernetes, kubeconfigWith({ kubeconfig: undefined }), 'kubernetesServiceConnection', 'KubeConnectionKubeconfigMissing', [/'k8s-prod'/, /paste the kubeconfig/]);
  });

  it('malformed kubeconfig YAML, without quoting the file', () => {
    const broken = kubeconfigYaml.replace('  user:\n    token:', '  user:\n   token: [');
    const error = rejects(viaKubernetes, kubeconfigWith({ kubeconfig: broken }), 'kubernetesServiceConnection', 'KubeConnectionKubeconfigInvalid', [/'k8s-prod'/, /not valid YAML .*line \d+/, /clusters, users and contexts/]);
    assert.ok(!error.message.includes('token'), error.message);
    rejects(viaKubernetes, kubeconfigWith({ kubeconfig: '- just\n- a list\n' }), 'kubernetesServiceConnection', 'KubeConnectionKubeconfigInvalid', [/not a YAML mapping/]);
    rejects(viaKubernetes, kubeconfigWith({ kubeconfig: kubeconfigYaml.replace('    cluster: prod\n', '    cluster: gone\n') }), 'kubernetesServiceConnection', 'KubeConnectionKubeconfigInvalid', [/context 'prod' names a cluster the file does not define/]);
  });

  it('a kubeconfig with no current-context and no clusterContext', () => {
    rejects(viaKubernetes, kubeconfigWith({ kubeconfig: kubeconfigYaml.replace('current-context: prod\n', '') }), 'kubernetesServiceConnection', 'KubeConnectionNoContext', [/'k8s-prod'/, /no current-context/, /\(prod, staging\)/]);
  });

  it('a clusterContext the kubeconfig does not hold', () => {
    rejects(viaKubernetes, kubeconfigWith({ clusterContext: 'production' }), 'kubernetesServiceConnection', 'KubeConnectionContextMissing', [/'k8s-prod'/, /'production'/, /Contexts in the kubeconfig: prod, staging/]);
  });

  it('a service account connection without a token (and the AzureSubscription variant)', () => {
    rejects(viaKubernetes, withChanges(serviceAccountConnection, { apiToken: undefined }), 'kubernetesServiceConnection', 'KubeConnectionTokenMissing', [/'k8s-prod'/, /ServiceAccount/, /data\.token/]);
    rejects(viaKubernetes, withChanges(azureSubscriptionConnection, { apiToken: undefined }), 'kubernetesServiceConnection', 'KubeConnectionAzureTokenMissing', [/'k8s-prod'/, /AzureSubscription/, /azureResourceManager/]);
  });

  it('a service account token, CA or server URL in a form no task accepts', () => {
    rejects(viaKubernetes, withChanges(serviceAccountConnection, { apiToken: 'not a token at all' }), 'kubernetesServiceConnection', 'KubeConnectionTokenInvalid', [/'k8s-prod'/, /neither base64 .* nor a JWT/]);
    rejects(viaKubernetes, withChanges(serviceAccountConnection, { serviceAccountCertificate: 'bm90IGEgY2VydA==' }), 'kubernetesServiceConnection', 'KubeConnectionCertificateInvalid', [/'k8s-prod'/, /PEM certificate nor base64 of one/]);
    rejects(viaKubernetes, withChanges(serviceAccountConnection, {}, {}, { url: undefined }), 'kubernetesServiceConnection', 'KubeConnectionServerMissing', [/'k8s-prod'/, /https:\/\//]);
    rejects(viaKubernetes, withChanges(serviceAccountConnection, {}, {}, { url: 'ftp://10.0.0.1' }), 'kubernetesServiceConnection', 'KubeConnectionServerInvalid', [/'ftp:\/\/10\.0\.0\.1'/, /https:\/\/my-cluster/]);
  });

  it('a kubeconfig whose user signs in to Entra ID interactively (kubelogin device code)', () => {
    const exec = (login: string) => kubeconfigYaml.replace(`    token: ${token}`, ['    exec:', '      apiVersion: client.authentication.k8s.io/v1beta1', '      command: kubelogin', `      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630${login}]`].join('\n'));
    rejects(viaKubernetes, kubeconfigWith({ kubeconfig: exec('') }), 'kubernetesServiceConnection', 'KubeConnectionEntraInteractive', [/'k8s-prod'/, /kubelogin --login devicecode/, /connectionType to azureResourceManager/]);
    // A non-interactive kubelogin mode is left to kubelogin, as in Microsoft's tasks.
    assert.equal(connect(kubeconfigWith({ kubeconfig: exec(', --login, azurecli') })).access.kind, 'serviceConnection');
  });

  it('a kubeconfig whose user runs an auth-provider cmd-path (through a shell): refused, while exec plugins are kept', () => {
    const provider = kubeconfigYaml.replace(`    token: ${token}`, ['    auth-provider:', '      name: gcp', '      config:', '        cmd-path: /usr/bin/gcloud', '        cmd-args: config config-helper --format=json', `        access-token: ${token}`].join('\n'));
    rejects(viaKubernetes, kubeconfigWith({ kubeconfig: provider }), 'kubernetesServiceConnection', 'KubeConnectionCmdPathRefused', [/'k8s-prod'/, /user 'deployer'/, /auth-provider 'gcp' with cmd-path/, /exec plugin/]);
    const plugin = kubeconfigYaml.replace(`    token: ${token}`, ['    exec:', '      apiVersion: client.authentication.k8s.io/v1', '      command: /usr/local/bin/get-token', '      args: [--audience, aks, --client-secret, s3cr3t-arg-value]'].join('\n'));
    const { agent, access } = connect(kubeconfigWith({ kubeconfig: plugin }));
    assert.equal(access.kind, 'serviceConnection');
    assert.ok(agent.secrets.includes('s3cr3t-arg-value'), 'a secret exec argument is registered');
  });

  it('a connection whose kubeconfig fails as the task connects with it: names the connection, as it does while reading it', async () => {
    const checks: [Spec, string, RegExp[]][] = [
      [withChanges(serviceAccountConnection, {}, {}, { url: 'http://10.0.0.1:8080' }), 'KubeConnectionServerNotHttps', [/cluster 'kubernetes-service-connection' has server 'http:\/\/10\.0\.0\.1:8080', which is not an https:\/\/ URL/]],
      [kubeconfigWith({ kubeconfig: kubeconfigYaml.replace('    server: https://aks-prod-dns', '    proxy-url: socks5://10.0.0.9:1080\n    server: https://aks-prod-dns') }), 'KubeConnectionProxyUnsupported', [/cluster 'prod' has a proxy-url of scheme 'socks5'/]],
    ];
    for (const [endpoint, key, patterns] of checks) {
      const { agent, access } = connect(endpoint);
      const resolved = await resolveKubeconfig(access, { setSecret: agent.setSecret, log: agent.log, network: agent.network() });
      let caught: unknown;
      try {
        connectCluster(resolved, { network: agent.network() }).close();
      } catch (error) {
        caught = asInputError(error, deploySettings('kubernetesServiceConnection'));
      }
      assert.ok(caught instanceof InputError, `expected an InputError, got ${String(caught)}`);
      assert.equal(caught.key, key, caught.message);
      assert.equal(caught.input, 'kubernetesServiceConnection');
      assert.match(caught.message, /^Input 'kubernetesServiceConnection' names service connection 'k8s-prod', whose /);
      for (const pattern of patterns) assert.match(caught.message, pattern);
    }
  });

  it('a privateCluster that is not a boolean', () => {
    rejects({ ...viaArm, privateCluster: 'yes-please' }, armConnection, 'privateCluster', 'InputNotBoolean', [/'yes-please'/]);
  });

  it('an invalid resource group', () => {
    for (const value of ['rg-ai.', 'rg/ai', 'r'.repeat(91), 'rg ai']) {
      rejects({ ...viaArm, resourceGroup: value }, armConnection, 'resourceGroup', 'KubeConnectionResourceGroupInvalid', [new RegExp(`'${value.replace(/[.()/]/g, '\\$&')}'`), /1 to 90 letters, digits, '\.', '_', '-', '\(' or '\)', not ending with '\.'/]);
    }
  });

  it('an invalid cluster name', () => {
    for (const value of ['-aks', 'aks-', 'aks.prod', 'a'.repeat(64)]) {
      rejects({ ...viaArm, kubernetesCluster: value }, armConnection, 'kubernetesCluster', 'KubeConnectionClusterNameInvalid', [new RegExp(`'${value.replace('.', '\\.')}'`), /1 to 63 letters, digits, '-' or '_', starting and ending with a letter or digit/]);
    }
  });

  it('an Azure Resource Manager connection the job cannot see, or without a subscription: named as azureSubscription', () => {
    rejects({ ...viaArm, azureSubscription: 'arm-nope' }, armConnection, 'azureSubscription', 'EndpointMissing', [/^Input 'azureSubscription' names service connection 'arm-nope'/]);
    rejects(viaArm, withChanges(armConnection, {}, { subscriptionId: undefined }), 'azureSubscription', 'AzureRmSubscriptionMissing', [/^Input 'azureSubscription' names service connection 'k8s-prod'/]);
  });

  it('azureResourceManager without azureSubscription, resource group or cluster', () => {
    const { azureSubscription: _, ...noSubscription } = viaArm;
    rejects(noSubscription, armConnection, 'azureSubscription', 'InputRequired', [/connectionType is 'azureResourceManager'/]);
    rejects({ ...viaArm, resourceGroup: '' }, armConnection, 'resourceGroup', 'InputRequired', [/azureResourceManager/]);
    rejects({ ...viaArm, kubernetesCluster: ' ' }, armConnection, 'kubernetesCluster', 'InputRequired', [/azureResourceManager/]);
  });

  it('an unknown connectionType and a useClusterAdmin that is not a boolean', () => {
    rejects({ ...viaArm, connectionType: 'kubectl' }, armConnection, 'connectionType', 'InputNotInList', [/'kubectl'/, /kubernetesServiceConnection, azureResourceManager/]);
    rejects({ ...viaArm, useClusterAdmin: 'yes' }, armConnection, 'useClusterAdmin', 'InputNotBoolean', [/'yes'/, /true or false/]);
  });
});
