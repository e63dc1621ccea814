import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestPipelineOidcToken, type OidcContext } from '../../tasks/common/azure/oidc';
import { RemoteError, TaskError } from '../../tasks/common/errors';
import type { MessageKey } from '../../tasks/common/messages';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { s3Credentials, type S3Access, type S3Role } from '../../tasks/common/model/s3Access';
import { openS3Store } from '../../tasks/common/model/s3Store';
import { policyForRetries } from '../../tasks/common/net/retry';
import { startDevOpsStandIn, type DevOpsStandIn } from '../support/devopsStandIn';
import { fakeAgent } from '../support/fakeAgent';
import { assertHolds,  settingFailure,  testFetchOptions  } from '../support/fetchHarness';
import { randomBytes } from '../support/modelStore';
import { S3Publisher, startS3, type S3Server } from '../support/s3';
import { startTcpProxy } from '../support/tcpProxy';
import { testServices } from '../support/services';
import { testTransport } from '../support/azureTransport';
import { silentProgress } from '../../tasks/common/log';

const ROLE = 'arn:aws:iam::123456789012:role/model-reader';
const OPEN_ROLE = 'arn:aws:iam::123456789012:role/ci/open-reader';
const OIDC_ROLE = 'arn:aws:iam::123456789012:role/pipelines-oidc';
const EXTERNAL_ID = 'contoso-7f3a9c';

describe('fetchLatestModel from S3 with an assumed IAM role (STS stand-in)', function () {
  this.timeout(60_000);
  const systemAccessToken = `eyJ0eXAiOiJKV1Qi.${randomBytes(12).toString('hex')}`;
  const oidcConnection = randomUUID();
  const files = { 'churn/3.0.0/weights.bin': randomBytes(2 * 1024 * 1024 + 7), 'churn/3.0.0/labels.txt': Buffer.from('yes\nno\n') };
  let devops: DevOpsStandIn;
  let s3: S3Server;
  let work: string;

  before(async () => {
    devops = await startDevOpsStandIn({ accessToken: systemAccessToken, serviceConnections: { [oidcConnection]: 'aws-oidc' } });
    const oidcPublicKey = devops.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const webIdentity = { issuer: devops.issuer, subject: devops.subjectFor(oidcConnection), audience: 'api://AzureADTokenExchange' };
    s3 = await startS3({ sts: { roles: [{ arn: ROLE, externalId: EXTERNAL_ID }, { arn: OPEN_ROLE }, { arn: OIDC_ROLE, webIdentity }], oidcPublicKey } });
    const publisher = await new S3Publisher(s3, 'models').create();
    for (const [key, data] of Object.entries(files)) await publisher.publish(key, data);
  });
  after(async () => {
    await s3?.stop();
    await devops?.close();
  });
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-s3-role-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const oidcContext = (): OidcContext => ({ collectionUri: devops.collectionUri, projectId: randomUUID(), hub: 'build', planId: randomUUID(), jobId: randomUUID(), accessToken: systemAccessToken, serviceConnectionId: oidcConnection });
  const role = (overrides: Partial<S3Role> = {}): S3Role => ({ roleArn: ROLE, sessionName: 'azure-pipelines-4242', externalId: EXTERNAL_ID, signIn: { kind: 'accessKey' }, ...overrides });

  function access(overrides: Partial<S3Access> = {}): S3Access {
    return {
      bucket: 'models', region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, retry: policyForRetries(2),
      credentials: s3Credentials(s3.accessKeyId, s3.secretAccessKey), role: role(),
      credentialSource: { kind: 'serviceConnection', name: 'aws-role' },
      ...overrides,
    };
  }

  async function fetch(s3Access: S3Access) {
    const agent = fakeAgent({});
    const services = testServices();
    const context = { log: agent.log, registerSecret: agent.setSecret, oidcToken: (devOps: OidcContext) => requestPipelineOidcToken(devOps, testTransport()), ...services };
    const model = await fetchLatestModel(openS3Store(s3Access, context), testFetchOptions(work, { prefix: 'churn/' }), { log: agent.log, progress: silentProgress, ...services });
    return { model, agent };
  }

  async function newRequests<T>(run: () => Promise<T>) {
    const before = { requests: (await s3.settled()).length, sts: s3.stsCalls.length };
    const result = await run();
    return { result, requests: (await s3.settled()).slice(before.requests), sts: s3.stsCalls.slice(before.sts) };
  }

  it('assumes the role once (with its ExternalId) and reads S3 with the temporary credentials, masking them', async () => {
    const { result: { model, agent }, requests, sts } = await newRequests(() => fetch(access()));
    assert.equal(model.version, '3.0.0');
    assertHolds(model.path, { 'weights.bin': files['churn/3.0.0/weights.bin'], 'labels.txt': files['churn/3.0.0/labels.txt'] });
    assert.deepEqual(sts, [{ action: 'AssumeRole', status: 200 }], 'one AssumeRole, however many S3 requests run at once');
    const s3Requests = requests.filter((request) => request.method !== 'POST');
    assert.ok(s3Requests.length > 2 && s3Requests.every((request) => /^ASIA/.test(request.keyId ?? '')), 'every S3 request is signed with the role\'s key');
    assert.ok(agent.secrets.some((secret) => secret.startsWith('IQoJb3JpZ2luX2Vj')), 'the session token is registered as a secret');
    assert.equal(agent.secrets.length, 2, 'the temporary secret key and session token');
    assert.ok(agent.lines.some((line) => line.startsWith(`Assumed role ${ROLE} (session azure-pipelines-4242)`)));
  });

  it('assumes a role without ExternalId when its trust policy asks for none', async () => {
    const { model } = await fetch(access({ role: role({ roleArn: OPEN_ROLE, externalId: undefined }) }));
    assert.equal(model.version, '3.0.0');
  });

  it('retries STS 5xx answers, then fetches', async () => {
    await s3.failSts(2, 503);
    const { result, sts } = await newRequests(() => fetch(access()));
    assert.equal(result.model.version, '3.0.0');
    assert.deepEqual(sts.map((call) => call.status), [503, 503, 200]);
  });

  it('assumes a role with the pipeline\'s OIDC token (AssumeRoleWithWebIdentity, unsigned)', async () => {
    const oidc = access({ credentials: undefined, role: role({ roleArn: OIDC_ROLE, externalId: undefined, signIn: { kind: 'webIdentity', devOps: oidcContext() } }) });
    const { result, sts } = await newRequests(() => fetch(oidc));
    assert.equal(result.model.version, '3.0.0');
    assert.deepEqual(sts, [{ action: 'AssumeRoleWithWebIdentity', status: 200 }]);
    assert.equal(devops.requests.at(-1)?.serviceConnectionId, oidcConnection);
  });

  describe('refusals, each with nothing written', () => {
    // A role comes with a service connection: every refusal names it.
    const refused = (setting: string, key: MessageKey, message: RegExp) => settingFailure({ setting, key, run: 's3Connection', input: 'awsCredentials', message });
    const cases: [string, () => S3Access, (error: unknown) => boolean][] = [
      ['a wrong ExternalId: AccessDenied naming the role', () => access({ role: role({ externalId: 'someone-else' }) }), refused('storeCredential', 'S3AssumeRoleDenied', new RegExp(`\\(input 'awsCredentials'\\) assume role ${ROLE} \\(AccessDenied`))],
      ['a role that does not trust the keys', () => access({ role: role({ roleArn: 'arn:aws:iam::123456789012:role/other' }) }), refused('storeCredential', 'S3AssumeRoleDenied', /role\/other/)],
      ['a wrong secret key: STS rejects the signature', () => access({ credentials: s3Credentials(s3.accessKeyId, 'not-the-secret') }), refused('storeCredential', 'S3SignatureRejected', /^AWS STS at .*input 'awsCredentials'/)],
      ['an unknown access key id', () => access({ credentials: s3Credentials('AKIAUNKNOWN000000000', s3.secretAccessKey) }), refused('storeAccessKeyId', 'S3AccessKeyRejected', /input 'awsCredentials'/)],
      ['an OIDC token for a connection the role does not trust', () => access({ credentials: undefined, role: role({ roleArn: ROLE, externalId: undefined, signIn: { kind: 'webIdentity', devOps: oidcContext() } }) }), refused('storeCredential', 'S3WebIdentityRejected', new RegExp(`\\(input 'awsCredentials'\\) for role ${ROLE}`))],
    ];
    for (const [title, given, check] of cases) {
      it(title, async () => {
        await assert.rejects(fetch(given()), (error: unknown) => {
          assert.ok(check(error), `unexpected: ${error}`);
          assert.ok(!String((error as Error).message).includes(s3.secretAccessKey));
          return true;
        });
        assert.deepEqual(readdirSync(work), []);
      });
    }

    it('STS failing with 5xx on every attempt: retried, then a clear failure', async () => {
      await s3.failSts(10, 500);
      try {
        const { sts } = await newRequests(() => assert.rejects(fetch(access()), (error: unknown) => error instanceof RemoteError && error.key === 'S3StsFailed' && /after 3 attempts \(HTTP 500/.test(error.message) && error.message.includes(ROLE)));
        assert.equal(sts.length, 3, 'retries + 1 attempts');
      } finally {
        await s3.failSts(0, 500);
      }
    });

    it('STS unreachable: retried, then a clear failure naming where', async () => {
      const proxy = await startTcpProxy({ targetPort: s3.port });
      const closed = `http://127.0.0.1:${proxy.port}`;
      await proxy.close();
      await assert.rejects(fetch(access({ role: role({ stsEndpoint: closed }) })), (error: unknown) => {
        assert.ok(error instanceof TaskError && error.key === 'S3StsFailed', String(error));
        assert.match(error.message, new RegExp(`AWS STS at ${closed} did not issue credentials for role ${ROLE} after \\d+ attempts \\(ECONNREFUSED\\)`));
        return true;
      });
    });
  });
});
