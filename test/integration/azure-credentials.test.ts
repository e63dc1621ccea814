/**
 * Real tokens through @azure/identity (MSAL) from the Entra, managed identity and Azure DevOps
 * stand-ins, and the ARM storage account look-up. Credential code runs in a child process (see
 * azureTokenProbe.ts) so Node trusts the stand-ins' test CA; the OIDC request runs in-process.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requestPipelineOidcToken } from '../../tasks/common/azure/oidc';
import { TaskError } from '../../tasks/common/errors';
import { type AzureStandIns, clientIds, connectionIds, forbiddenSubscriptionId, runAzureProbe, startAzureStandIns } from '../support/azureStandIns';
import type { ProbeRequest, ProbeResult } from '../support/azureTokenProbe';
import type { EndpointSpec } from '../support/fakeAzureEndpoint';
import { decodeJwt } from '../support/jwt';
import { testTransport } from '../support/azureTransport';
import { ForwardProxy } from '../support/forwardProxy';
import { createClientCertificate } from '../support/tls';

describe('Azure credentials and ARM look-up against the stand-ins', function () {
  let dir: string;
  let s: AzureStandIns;
  const outputs: string[] = [];

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azure-credentials-'));
    s = await startAzureStandIns(dir);
  });

  after(async function () {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function probe(request: Omit<ProbeRequest, 'oidc'> & { oidc?: ProbeRequest['oidc'] }): Promise<ProbeResult> {
    const run = await runAzureProbe(s, { oidc: s.oidc, ...request });
    outputs.push(run.output);
    return run.result;
  }

  function armScope(): string {
    return `${s.arm.audience}/.default`;
  }

  function ok(result: ProbeResult): asserts result is ProbeResult & { ok: true } {
    assert.ok(result.ok, `expected success, got ${JSON.stringify(result)}`);
  }

  function failed(result: ProbeResult, key: string): { key?: string; setting?: string; input?: string; message: string } {
    assert.ok(!result.ok, `expected ${key}, got success`);
    assert.equal(result.error.key, key, result.error.message);
    return result.error;
  }

  function withAuth(spec: EndpointSpec, auth: Record<string, string>, id = spec.id): EndpointSpec {
    return { ...spec, id, auth: { ...spec.auth, ...auth } };
  }

  describe('tokens for each scheme', function () {
    it('service principal with a client secret', async function () {
      const result = await probe({ endpoint: s.connections.secret, scope: armScope() });
      ok(result);
      assert.equal(result.claims?.aud, s.arm.audience);
      assert.equal(result.claims?.appid, clientIds.secret);
      const request = s.entra.tokenRequests.at(-1);
      assert.deepEqual([request?.credential, request?.scope, request?.outcome], ['secret', armScope(), 'issued']);
    });

    it('service principal with a certificate (signed client assertion)', async function () {
      const result = await probe({ endpoint: s.connections.certificate, scope: armScope() });
      ok(result);
      assert.equal(result.claims?.appid, clientIds.certificate);
      assert.equal(s.entra.tokenRequests.at(-1)?.credential, 'certificate');
    });

    it('workload identity federation with the pipeline OIDC token, asked for once', async function () {
      const before = s.devops.requests.length;
      // Two tokens (the probe's, then ARM's CAE-enabled one): the OIDC token is reused, not asked again.
      const result = await probe({ endpoint: s.connections.federated, scope: armScope(), arm: { accountName: 'betastore' } });
      ok(result);
      assert.equal(result.claims?.appid, clientIds.federated);
      assert.equal(result.blobEndpoint, 'https://betastore.blob.core.windows.net/');
      const asked = s.devops.requests.slice(before);
      assert.equal(asked.length, 1, 'one OIDC token request');
      assert.deepEqual(asked[0], {
        projectId: s.oidc.projectId, hub: 'build', planId: s.oidc.planId, jobId: s.oidc.jobId,
        serviceConnectionId: connectionIds.federated, apiVersion: '7.2-preview.1', status: 200,
      });
      assert.equal(s.entra.tokenRequests.at(-1)?.credential, 'federated');
    });

    it('managed identity, system-assigned', async function () {
      const result = await probe({ endpoint: s.connections.managedIdentity, scope: armScope() });
      ok(result);
      assert.equal(result.claims?.appid, clientIds.systemIdentity);
      assert.deepEqual(s.managedIdentity.requests.at(-1), { resource: s.arm.audience, clientId: null, apiVersion: '2019-08-01', status: 200 });
    });

    it('managed identity, user-assigned through msiclientId', async function () {
      const spec = { ...s.connections.managedIdentity, data: { ...s.connections.managedIdentity.data, msiclientId: clientIds.userIdentity } };
      const result = await probe({ endpoint: spec, scope: armScope() });
      ok(result);
      assert.equal(result.claims?.appid, clientIds.userIdentity);
      assert.equal(s.managedIdentity.requests.at(-1)?.clientId, clientIds.userIdentity);
    });
  });

  describe('refusals say what to fix', function () {
    it('a wrong client secret names the connection and never shows the secret', async function () {
      const wrong = 'Wr0ng~Secret.value-that-must-not-leak';
      const error = failed(await probe({ endpoint: withAuth(s.connections.secret, { serviceprincipalkey: wrong }), scope: armScope() }), 'AzureSecretRejected');
      assert.match(error.message, /AADSTS7000215/);
      assert.match(error.message, new RegExp(connectionIds.secret));
      assert.match(error.message, /create a new client secret/);
      assert.equal(s.entra.tokenRequests.at(-1)?.outcome, 'AADSTS7000215');
      for (const output of outputs) {
        assert.ok(!output.includes(wrong), 'the wrong secret reached the output');
        assert.ok(!output.includes(s.clientSecret), 'the client secret reached the output');
      }
    });

    it('a certificate the app registration does not hold', async function () {
      const other = createClientCertificate(path.join(dir, 'other'), 'unregistered');
      const spec = withAuth(s.connections.certificate, { servicePrincipalCertificate: other.pem });
      const error = failed(await probe({ endpoint: spec, scope: armScope() }), 'AzureCertificateRejected');
      assert.match(error.message, /AADSTS700027/);
    });

    it('an OIDC token whose subject no federated credential names', async function () {
      const spec = { ...s.connections.federated, id: connectionIds.federatedUnregistered };
      const error = failed(await probe({ endpoint: spec, scope: armScope() }), 'AzureFederationRejected');
      assert.match(error.message, /AADSTS70021/);
      assert.match(error.message, /models-wif-2/);
    });

    it('a client id the tenant does not know', async function () {
      const spec = withAuth(s.connections.secret, { serviceprincipalid: '99999999-9999-4999-8999-999999999999' });
      const error = failed(await probe({ endpoint: spec, scope: armScope() }), 'AzureApplicationNotFound');
      assert.match(error.message, /AADSTS700016/);
    });

    it('a tenant the authority does not know', async function () {
      const spec = withAuth(s.connections.secret, { tenantid: '00000000-dead-4000-8000-000000000000' });
      const error = failed(await probe({ endpoint: spec, scope: armScope() }), 'AzureTenantNotFound');
      assert.match(error.message, /00000000-dead-4000-8000-000000000000/);
    });

    it('a user-assigned identity the agent does not have', async function () {
      const spec = { ...s.connections.managedIdentity, data: { ...s.connections.managedIdentity.data, msiclientId: '66666666-6666-4666-8666-666666666666' } };
      const error = failed(await probe({ endpoint: spec, scope: armScope() }), 'AzureManagedIdentityUnavailable');
      assert.match(error.message, /No User Assigned/);
    });

    it('a connection without a tenant id fails before any request', async function () {
      const before = s.entra.paths.length;
      const spec: EndpointSpec = { ...s.connections.secret, auth: { serviceprincipalid: clientIds.secret, serviceprincipalkey: s.clientSecret } };
      const error = failed(await probe({ endpoint: spec, scope: armScope(), input: 'connectedServiceNameARM' }), 'AzureRmTenantMissing');
      assert.equal(error.setting, 'storeConnection');
      assert.equal(error.input, 'connectedServiceNameARM');
      assert.match(error.message, /^Input 'connectedServiceNameARM' names service connection .*tenant ID/);
      assert.equal(s.entra.paths.length, before);
    });

    it('a connection without a client id', async function () {
      const spec: EndpointSpec = { ...s.connections.federated, auth: { tenantid: 'x' } };
      const error = failed(await probe({ endpoint: spec, scope: armScope() }), 'AzureRmClientIdMissing');
      assert.equal(error.setting, 'storeConnection');
      assert.equal(error.input, 'azureSubscription');
    });
  });

  describe('storage account look-up through ARM', function () {
    it('finds an account on a later page, matching the name in any case', async function () {
      const before = s.arm.requests.length;
      const result = await probe({ endpoint: s.connections.secret, arm: { accountName: 'modelstore' } });
      ok(result);
      assert.equal(result.blobEndpoint, 'https://ModelStore.blob.core.windows.net/');
      assert.deepEqual(s.arm.requests.slice(before).map((r) => [r.skipToken, r.status]), [[null, 200], ['2', 200]]);
    });

    it('lists the accounts it saw when the name is not there', async function () {
      const error = failed(await probe({ endpoint: s.connections.federated, arm: { accountName: 'nosuchstore' } }), 'AzureStorageAccountNotFound');
      assert.equal(error.setting, 'storageAccount');
      assert.equal(error.input, 'storageAccount');
      assert.match(error.message, /^Input 'storageAccount' is 'nosuchstore', but subscription .* service connection '.+' can see/);
      assert.match(error.message, /alphastore, betastore, ModelStore, zetastore, omegastore/);
    });

    it('says which role to grant when ARM answers 403', async function () {
      const spec = { ...s.connections.certificate, data: { ...s.connections.certificate.data, subscriptionId: forbiddenSubscriptionId } };
      const error = failed(await probe({ endpoint: spec, arm: { accountName: 'modelstore' } }), 'AzureArmForbidden');
      assert.match(error.message, /Reader role/);
      assert.match(error.message, /AuthorizationFailed/);
    });

    it('a credential refusal during the look-up keeps its own message', async function () {
      const before = s.arm.requests.length;
      const spec = withAuth(s.connections.secret, { serviceprincipalkey: 'another-wrong-secret' });
      const error = failed(await probe({ endpoint: spec, arm: { accountName: 'modelstore' } }), 'AzureSecretRejected');
      assert.match(error.message, /AADSTS7000215/);
      assert.equal(s.arm.requests.length, before, 'no request reaches ARM without a token');
    });

    it('retries ARM 503s', async function () {
      s.arm.failNext(2, 503);
      const before = s.arm.requests.length;
      const result = await probe({ endpoint: s.connections.managedIdentity, arm: { accountName: 'alphastore' } });
      ok(result);
      assert.equal(result.blobEndpoint, 'https://alphastore.blob.core.windows.net/');
      assert.deepEqual(s.arm.requests.slice(before).map((r) => r.status), [503, 503, 200]);
    });
  });

  describe('every request through the network layer', function () {
    const hostOf = (url: string) => new URL(url).host;

    async function throughProxy(request: ProbeRequest, proxy: ForwardProxy): Promise<ProbeResult> {
      const run = await runAzureProbe(s, request, { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '', no_proxy: '' });
      outputs.push(run.output);
      return run.result;
    }

    const cases: [string, keyof AzureStandIns['connections'], () => string[]][] = [
      ['a client secret: Entra (MSAL) and ARM', 'secret', () => [hostOf(s.entra.authorityHost), hostOf(s.arm.url)]],
      ['a certificate: Entra (MSAL) and ARM', 'certificate', () => [hostOf(s.entra.authorityHost), hostOf(s.arm.url)]],
      ['workload identity federation: Azure DevOps (OIDC), Entra (MSAL) and ARM', 'federated', () => [hostOf(s.oidc.collectionUri!), hostOf(s.entra.authorityHost), hostOf(s.arm.url)]],
      ['a managed identity: its endpoint (MSAL) and ARM', 'managedIdentity', () => [hostOf(s.managedIdentity.env.IDENTITY_ENDPOINT), hostOf(s.arm.url)]],
    ];
    for (const [title, scheme, peers] of cases) {
      it(`${title} go through the agent's proxy`, async function () {
        const proxy = await ForwardProxy.start();
        try {
          const result = await throughProxy({ endpoint: s.connections[scheme], oidc: s.oidc, arm: { accountName: 'alphastore' } }, proxy);
          ok(result);
          assert.equal(result.blobEndpoint, 'https://alphastore.blob.core.windows.net/');
          assert.deepEqual([...proxy.peers()].sort(), peers().sort());
        } finally {
          await proxy.close();
        }
      });
    }

    it('an Entra that cannot be reached fails naming the connection and the host, not "network_error"', async function () {
      const closed = await ForwardProxy.start();
      const gone = closed.url.replace('http:', 'https:');
      await closed.close();
      const spec = { ...s.connections.secret, data: { ...s.connections.secret.data, environmentAuthorityUrl: `${gone}/` } };
      const error = failed(await probe({ endpoint: spec, scope: armScope() }), 'AzureTokenUnreachable');
      assert.match(error.message, new RegExp(connectionIds.secret));
      assert.match(error.message, new RegExp(`${new URL(gone).host}.*ECONNREFUSED`));
    });
  });

  describe('pipeline OIDC token (in-process)', function () {
    const context = () => ({ ...s.oidc, serviceConnectionId: connectionIds.federated });

    it('returns a token for the service connection, signed by Azure DevOps', async function () {
      const token = await requestPipelineOidcToken(context(), testTransport());
      const claims = decodeJwt(token)?.payload;
      assert.equal(claims?.sub, s.devops.subjectFor(connectionIds.federated));
      assert.equal(claims?.aud, 'api://AzureADTokenExchange');
    });

    it('retries transient failures', async function () {
      s.devops.failNext(2, 503);
      const before = s.devops.requests.length;
      await requestPipelineOidcToken(context(), testTransport());
      assert.deepEqual(s.devops.requests.slice(before).map((r) => r.status), [503, 503, 200]);
    });

    it('does not retry a rejected access token', async function () {
      const before = s.devops.requests.length;
      await assert.rejects(requestPipelineOidcToken({ ...context(), accessToken: 'not-the-token' }, testTransport()), (error: TaskError) => {
        assert.equal(error.key, 'AzureOidcRequestFailed');
        assert.match(error.message, /HTTP 401/);
        assert.ok(!error.message.includes('not-the-token'));
        return true;
      });
      assert.equal(s.devops.requests.length, before, 'a 401 on discovery must stop before the token request');
    });

    it('explains a missing System.AccessToken', async function () {
      await assert.rejects(requestPipelineOidcToken({ ...context(), accessToken: undefined }, testTransport()), (error: TaskError) => {
        assert.equal(error.key, 'AzureOidcAccessTokenMissing');
        assert.match(error.message, /Allow scripts to access the OAuth token/);
        return true;
      });
    });

    it('names a missing pipeline variable', async function () {
      await assert.rejects(requestPipelineOidcToken({ ...context(), planId: undefined }, testTransport()), /System\.PlanId/);
    });
  });
});
