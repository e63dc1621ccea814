/**
 * The Azure stand-ins refuse what the real services refuse. Without this, a stand-in that accepts
 * anything would make every credential test pass for the wrong reason.
 */
import * as assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { type AzureStandIns, clientIds, connectionIds, startAzureStandIns, subscriptionId, tenantId } from '../support/azureStandIns';
import { nowSeconds, signHs256, signRs256 } from '../support/jwt';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

describe('Azure stand-ins refuse what the real services refuse', function () {
  let dir: string;
  let s: AzureStandIns;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azure-stand-ins-'));
    s = await startAzureStandIns(dir);
  });

  after(async function () {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One HTTPS request that trusts the test CA (in-process: no NODE_EXTRA_CA_CERTS needed). */
  function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method: options.method ?? 'GET', headers: options.headers, ca: fs.readFileSync(s.ca.caCert) }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  const tokenUrl = () => `${s.entra.authorityHost}${tenantId}/oauth2/v2.0/token`;

  function tokenRequest(form: Record<string, string>): Promise<Answer> {
    const body = new URLSearchParams({ grant_type: 'client_credentials', scope: `${s.arm.audience}/.default`, ...form }).toString();
    return request(tokenUrl(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  }

  function assertionForm(clientId: string, assertion: string): Record<string, string> {
    return { client_id: clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
  }

  function assertAadError(answer: Answer, status: number, code: number): void {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.error_codes, [code]);
    assert.match(String(answer.body.error_description), new RegExp(`^AADSTS${code}: .*\\r\\nTrace ID: `, 's'));
  }

  it('serves OpenID configuration whose issuer has the authority origin, as MSAL checks', async function () {
    const answer = await request(`${s.entra.authorityHost}${tenantId}/v2.0/.well-known/openid-configuration`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.issuer, `${s.entra.authorityHost}${tenantId}/v2.0`);
    assert.equal(answer.body.token_endpoint, tokenUrl());
  });

  it('refuses a certificate assertion that claims the registered thumbprint but is signed by another key', async function () {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const x5t = Buffer.from(s.certificate.sha1Thumbprint, 'hex').toString('base64url');
    const now = nowSeconds();
    const claims = { aud: tokenUrl(), iss: clientIds.certificate, sub: clientIds.certificate, jti: 'j', nbf: now, exp: now + 600 };
    assertAadError(await tokenRequest(assertionForm(clientIds.certificate, signRs256(claims, privateKey, { x5t }))), 401, 700027);
  });

  it('refuses a federated token with the right issuer and subject but a foreign signature', async function () {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = nowSeconds();
    const claims = { iss: s.devops.issuer, sub: s.devops.subjectFor(connectionIds.federated), aud: 'api://AzureADTokenExchange', nbf: now, exp: now + 600 };
    assertAadError(await tokenRequest(assertionForm(clientIds.federated, signRs256(claims, privateKey))), 400, 50013);
  });

  it('refuses a scope without /.default, as the client credentials grant requires', async function () {
    assertAadError(await tokenRequest({ client_id: clientIds.secret, client_secret: s.clientSecret, scope: s.arm.audience }), 400, 1002012);
  });

  it('ARM refuses a forged token, a token for another audience, and a missing api-version', async function () {
    const list = `${s.arm.url}subscriptions/${subscriptionId}/providers/Microsoft.Storage/storageAccounts`;
    const forged = signHs256({ aud: s.arm.audience, appid: clientIds.secret, exp: nowSeconds() + 600 }, randomBytes(32));
    const forgedAnswer = await request(`${list}?api-version=2023-05-01`, { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(forgedAnswer.status, 401);
    assert.equal((forgedAnswer.body.error as { code: string }).code, 'InvalidAuthenticationToken');

    const otherAudience = s.entra.issueAccessToken(tenantId, clientIds.secret, 'https://storage.azure.com');
    const audienceAnswer = await request(`${list}?api-version=2023-05-01`, { headers: { authorization: `Bearer ${otherAudience}` } });
    assert.equal(audienceAnswer.status, 401);
    assert.match((audienceAnswer.body.error as { message: string }).message, /wrong audience/);

    const good = s.entra.issueAccessToken(tenantId, clientIds.secret, s.arm.audience);
    const noVersion = await request(list, { headers: { authorization: `Bearer ${good}` } });
    assert.equal(noVersion.status, 400);
    const ok = await request(`${list}?api-version=2023-05-01`, { headers: { authorization: `Bearer ${good}` } });
    assert.equal(ok.status, 200);
    assert.equal((ok.body.value as unknown[]).length, 2);
    assert.match(String(ok.body.nextLink), /\$skipToken=2$/);
  });
});
