/**
 * Every ARM look-up signs for the connection's own cloud: a sovereign cloud's Resource Manager
 * accepts only tokens for its audience (activeDirectoryServiceEndpointResourceId), not for its URL's
 * origin. The ARM and Azure ML stand-ins here accept one non-public audience, as such a cloud does;
 * the credential asks the Entra stand-in for whatever scope the look-up requests.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { armTargetFor, findStorageAccountBlobEndpoint } from '../../tasks/common/azure/arm';
import { type AzureRmConnection, readAzureRmConnection } from '../../tasks/common/azure/connection';
import { MachineLearningClient } from '../../tasks/common/azure/machineLearning';
import { RemoteError } from '../../tasks/common/errors';
import { Network } from '../../tasks/common/net/network';
import { retryPolicy } from '../../tasks/common/net/retry';
import { networkSettings } from '../../tasks/common/net/settings';
import { type ArmStandIn, startArmStandIn } from '../support/armStandIn';
import { type AzureMlStandIn, startAzureMlStandIn } from '../support/azureMlStandIn';
import { type EntraStandIn, startEntraStandIn } from '../support/entraStandIn';
import { fakeEndpoint } from '../support/fakeAzureEndpoint';
import { createTestCa } from '../support/tls';

const SOVEREIGN_AUDIENCE = 'https://management.usgovcloudapi.net';
const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const clientId = '11111111-1111-4111-8111-111111111111';
const subscriptionId = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
const lockedSubscriptionId = '5c8f4c1e-7f0e-4e0e-9a57-3f1c1a0f0e01';

describe('ARM look-ups sign for the connection\'s cloud (resourceManagerAudience)', function () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arm-audience-'));
  const ca = createTestCa(dir);
  const network = new Network(networkSettings({ tls: { ca: [fs.readFileSync(ca.caCert, 'utf8')] } }));
  const transport = { network, retry: retryPolicy({ attempts: 2, baseDelayMs: 10 }) };
  const scopes: string[] = [];
  let entra: EntraStandIn;
  let arm: ArmStandIn;
  let ml: AzureMlStandIn;

  /** What @azure/identity would get from Entra for the scope asked: a token for that audience. */
  const credential: TokenCredential = {
    getToken: async (scope) => {
      const asked = Array.isArray(scope) ? scope[0] : (scope as string);
      scopes.push(asked);
      return { token: entra.issueAccessToken(tenantId, clientId, asked.replace(/\/\.default$/, '')), expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };

  function connection(url: string, audience: string | undefined, subscription = subscriptionId): AzureRmConnection {
    const data = { subscriptionId: subscription, environment: 'AzureUSGovernment', ...(audience ? { activeDirectoryServiceEndpointResourceId: `${audience}/` } : {}) };
    const endpoint = fakeEndpoint({ id: 'gov-arm', url, scheme: 'WorkloadIdentityFederation', auth: { tenantid: tenantId, serviceprincipalid: clientId }, data });
    return readAzureRmConnection(endpoint, 'storeConnection', 'Models (US Gov)');
  }

  before(async () => {
    entra = await startEntraStandIn(ca);
    const accounts = [{ name: 'govmodels', blobEndpoint: 'https://govmodels.blob.core.usgovcloudapi.net/' }];
    arm = await startArmStandIn({
      tls: ca, verifyToken: entra.verifyAccessToken, audience: SOVEREIGN_AUDIENCE,
      subscriptions: { [subscriptionId]: { accounts }, [lockedSubscriptionId]: { accounts, readers: ['someone-else'] } },
    });
    ml = await startAzureMlStandIn({
      tls: ca, verifyToken: entra.verifyAccessToken, audience: SOVEREIGN_AUDIENCE,
      workspaces: [{ subscriptionId, resourceGroup: 'rg-ml', workspace: 'churn-ws', models: { churn: [{ version: '1', modelUri: 'azureml://x' }, { version: '2', modelUri: 'azureml://y' }] }, datastores: [] }],
    });
  });

  after(async () => {
    network.close();
    await Promise.all([arm?.close(), ml?.close(), entra?.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const storageAccount = (target: AzureRmConnection, accountName = 'govmodels') =>
    findStorageAccountBlobEndpoint({ ...armTargetFor(target, { credential, transport }), subscriptionId: target.subscriptionId, accountName });
  const workspace = (target: AzureRmConnection) =>
    new MachineLearningClient({ ...armTargetFor(target, { credential, transport }), subscriptionId, resourceGroup: 'rg-ml', workspace: 'churn-ws' });

  it('the storage account look-up asks for the sovereign audience, which its ARM accepts', async () => {
    scopes.length = 0;
    assert.equal(await storageAccount(connection(arm.url, SOVEREIGN_AUDIENCE)), 'https://govmodels.blob.core.usgovcloudapi.net/');
    assert.deepEqual(scopes, [`${SOVEREIGN_AUDIENCE}/.default`]);
    assert.equal(arm.requests.at(-1)?.status, 200);
  });

  it('the Azure ML look-up too', async () => {
    scopes.length = 0;
    assert.equal(await workspace(connection(ml.url, SOVEREIGN_AUDIENCE)).latestVersion('churn'), '2');
    assert.deepEqual(scopes, [`${SOVEREIGN_AUDIENCE}/.default`]);
  });

  it('the stand-ins refuse a token for the URL\'s origin, as a sovereign ARM does (what the look-ups sent before)', async () => {
    await assert.rejects(storageAccount(connection(arm.url, undefined)), (error) =>
      error instanceof RemoteError && error.key === 'AzureArmRequestFailed' && /HTTP 401 InvalidAuthenticationToken: .*wrong audience/.test(error.message));
    await assert.rejects(workspace(connection(ml.url, undefined)).latestVersion('churn'), (error) =>
      error instanceof RemoteError && /HTTP 401 InvalidAuthenticationToken: .*wrong audience/.test(error.message));
  });

  it('a 403 names the service connection, not "(Azure Resource Manager)"', async () => {
    await assert.rejects(storageAccount(connection(arm.url, SOVEREIGN_AUDIENCE, lockedSubscriptionId)), (error) =>
      error instanceof RemoteError && error.key === 'AzureArmForbidden' && /^Service connection 'Models \(US Gov\)' may not list the storage accounts/.test(error.message));
  });
});
