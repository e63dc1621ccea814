/**
 * The three users of a Resource Manager token — the ARM look-ups, ACR's token exchange and an
 * Azure ML workspace's MLflow endpoint — ask Entra for one scope for the same connection, in the
 * public cloud, sovereign clouds and Azure Stack. Each runs through its own public function with the
 * connection's real credential against the Entra stand-in, which records the scope asked for.
 * Each cloud's ARM (reached under its production host name through a routing proxy) and the MLflow
 * endpoint accept only that cloud's audience, so a wrong scope also fails the call.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { armTargetFor, findStorageAccountBlobEndpoint } from '../../tasks/common/azure/arm';
import { readAzureRmConnection } from '../../tasks/common/azure/connection';
import { azureCredential } from '../../tasks/common/azure/credential';
import type { OidcContext } from '../../tasks/common/azure/oidc';
import { OwnedLifetime } from '../../tasks/common/lifetime';
import { silentLog, silentProgress } from '../../tasks/common/log';
import { openMlflowStore } from '../../tasks/common/model/openMlflow';
import { Network } from '../../tasks/common/net/network';
import { retryPolicy } from '../../tasks/common/net/retry';
import { networkSettings, proxySettings } from '../../tasks/common/net/settings';
import { type ArmStandIn, startArmStandIn } from '../support/armStandIn';
import { type EntraStandIn, startEntraStandIn } from '../support/entraStandIn';
import type { ProbeRequest, ProbeResult } from '../support/azureTokenProbe';
import { type EndpointSpec, fakeEndpoint } from '../support/fakeAzureEndpoint';
import { type HostRoutingProxy, startHostRoutingProxy } from '../support/hostRoutingProxy';
import { type MlflowStandIn, startMlflowStandIn } from '../support/mlflowStandIn';
import { runProbeProcess } from '../support/probeProcess';
import { createTestCa } from '../support/tls';

const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const clientId = '11111111-1111-4111-8111-111111111111';
const clientSecret = `Xq8~${Math.random().toString(36).slice(2)}`;
const subscriptionId = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
const workspace = { subscriptionId, resourceGroup: 'ml-rg', workspace: 'contoso-ml' };
const WORKSPACE_PATH = `/mlflow/v1.0/subscriptions/${subscriptionId}/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/contoso-ml`;
const stackAudience = 'https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155';

interface Cloud {
  readonly name: string;
  /** The Resource Manager host the connection names (or the reader's default). */
  readonly host: string;
  /** The endpoint as the agent gives it: its URL and, when it carries one, the declared audience. */
  readonly url?: string;
  readonly declaredAudience?: string;
  /** The only audience this cloud's ARM and MLflow endpoint accept here. */
  readonly audience: string;
}

const clouds: readonly Cloud[] = [
  { name: 'the public cloud (no URL: the default)', host: 'management.azure.com', audience: 'https://management.azure.com' },
  { name: 'AzureChinaCloud, by its Resource Manager URL', host: 'management.chinacloudapi.cn', url: 'https://management.chinacloudapi.cn/', audience: 'https://management.chinacloudapi.cn' },
  { name: 'AzureUSGovernment, by its declared audience', host: 'management.usgovcloudapi.net', url: 'https://management.usgovcloudapi.net/', declaredAudience: 'https://management.core.usgovcloudapi.net/', audience: 'https://management.core.usgovcloudapi.net' },
  { name: 'Azure Stack, by its declared audience unrelated to its URL', host: 'management.local.azurestack.external', url: 'https://management.local.azurestack.external/', declaredAudience: stackAudience, audience: stackAudience },
];

describe('ARM look-ups, ACR\'s exchange and Azure ML\'s MLflow ask for one Resource Manager scope per connection', function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arm-scope-'));
  const ca = createTestCa(dir, clouds.map((cloud) => cloud.host));
  const retry = retryPolicy({ attempts: 2, baseDelayMs: 10 });
  const arms = new Map<string, ArmStandIn>();
  let entra: EntraStandIn;
  let proxy: HostRoutingProxy;
  let network: Network;
  let mlflow: MlflowStandIn;
  /** The audience the MLflow stand-in accepts in the test running now. */
  let mlflowAudience = '';
  const lifetime = new OwnedLifetime();
  const devOps: OidcContext = { collectionUri: undefined, projectId: undefined, hub: undefined, planId: undefined, jobId: undefined, accessToken: undefined, serviceConnectionId: 'scope-test' };

  before(async () => {
    entra = await startEntraStandIn(ca);
    entra.addSecretApp(tenantId, clientId, clientSecret);
    for (const cloud of clouds) {
      arms.set(cloud.host, await startArmStandIn({ tls: ca, verifyToken: entra.verifyAccessToken, audience: cloud.audience, subscriptions: { [subscriptionId]: { accounts: [{ name: 'models' }] } } }));
    }
    proxy = await startHostRoutingProxy(Object.fromEntries(clouds.map((cloud) => [cloud.host, { port: Number(new URL(arms.get(cloud.host)!.url).port) }])));
    network = new Network(networkSettings({ proxy: proxySettings(new URL(proxy.url), [/127\.0\.0\.1/]), tls: { ca: [fs.readFileSync(ca.caCert, 'utf8')] } }));
    const acceptsToken = (token: string) => String(entra.verifyAccessToken(token)?.aud ?? '').replace(/\/$/, '') === mlflowAudience;
    mlflow = await startMlflowStandIn({
      tls: ca, basePath: WORKSPACE_PATH, acceptsToken,
      models: { churn: { aliases: { champion: '1' }, versions: [{ version: '1', createdMs: 1, downloadUri: 'mlflow-artifacts:/1/run1/artifacts/model' }] } },
      artifacts: { '1/run1/artifacts/model/model.pkl': Buffer.from('weights') },
    });
  });

  after(async () => {
    network?.close();
    await Promise.all([mlflow, proxy, entra, ...arms.values()].map((server) => server?.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function endpointIn(cloud: Cloud): EndpointSpec {
    const data = { subscriptionId, environmentAuthorityUrl: entra.authorityHost, ...(cloud.declaredAudience ? { activeDirectoryServiceEndpointResourceId: cloud.declaredAudience } : {}) };
    return { id: 'scope-conn', url: cloud.url, scheme: 'ServicePrincipal', auth: { tenantid: tenantId, serviceprincipalid: clientId, authenticationType: 'spnKey', serviceprincipalkey: clientSecret }, data };
  }

  /**
   * registryCredential loads @azure/identity with a dynamic import, which the bundle resolves and
   * tsx/cjs does not: it runs in a child Node with tsx's loader (the token probe).
   */
  async function acrEntraToken(endpoint: EndpointSpec): Promise<Record<string, unknown> | undefined> {
    const request: ProbeRequest = { endpoint, acr: { registry: 'contoso.azurecr.io' } };
    const script = path.join(__dirname, '..', 'support', 'azureTokenProbe.ts');
    const { result } = await runProbeProcess<ProbeResult>(script, { NODE_EXTRA_CA_CERTS: ca.caCert, AZURE_PROBE: JSON.stringify(request) });
    if (!result.ok) assert.fail(`the ACR credential failed: ${result.error.message}`);
    return result.acrClaims;
  }

  /** The scopes Entra was asked for while `call` ran, each answered. */
  async function scopesAskedBy(call: () => Promise<unknown>): Promise<string[]> {
    const before = entra.tokenRequests.length;
    await call();
    const asked = entra.tokenRequests.slice(before);
    assert.ok(asked.length > 0, 'Entra was asked for a token');
    assert.deepEqual(asked.map((request) => request.outcome), asked.map(() => 'issued'));
    return [...new Set(asked.map((request) => request.scope ?? ''))];
  }

  for (const cloud of clouds) {
    it(cloud.name, async () => {
      const endpoint = endpointIn(cloud);
      const connection = readAzureRmConnection(fakeEndpoint(endpoint), 'storeConnection', `Models (${cloud.name})`);
      const scope = `${cloud.audience}/.default`;
      const transport = { network, retry, signal: lifetime.signal };

      const arm = await scopesAskedBy(async () => {
        const credential = azureCredential(connection, { oidcToken: () => assert.fail('no OIDC token for a secret'), transport });
        const blob = await findStorageAccountBlobEndpoint({ ...armTargetFor(connection, { credential, transport }), subscriptionId, accountName: 'models' });
        assert.equal(blob, 'https://models.blob.core.windows.net/');
      });
      assert.ok(proxy.hosts.includes(cloud.host), `the look-up went to ${cloud.host}`);

      const acr = await scopesAskedBy(async () => {
        const claims = await acrEntraToken(endpoint);
        assert.equal(String(claims?.aud), cloud.audience);
      });

      mlflowAudience = cloud.audience;
      const ml = await scopesAskedBy(async () => {
        const model = { trackingUri: mlflow.uri, registeredModel: 'churn', alias: 'champion', azureMlWorkspace: workspace };
        const context = { log: silentLog, progress: silentProgress, network, lifetime, registerSecret: () => undefined };
        const store = openMlflowStore({ kind: 'mlflow', model, retry, azure: { connection, devOps } }, context, () => assert.fail('no OIDC token for a secret'));
        const chosen = await store.chooseModel!({ kind: 'highestVersion' }, false, lifetime.signal);
        assert.equal(chosen.version.raw, '1');
      });

      assert.deepEqual({ arm, acr, ml }, { arm: [scope], acr: [scope], ml: [scope] });
    });
  }
});
