// Service connections of FetchLatestModel's stores: an Azure Repos/Team Foundation Server
// connection (PAT) for pipelineArtifact, and the AWS Toolkit's AWS connection with a role for s3.
import { strict as assert } from 'node:assert';
import { TaskError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { readFetchInputs } from '../../tasks/common/pipeline/fetchInputs';
import { fakeAgent } from '../support/fakeAgent';
import type { EndpointSpec } from '../support/fakeAzureEndpoint';

const pat = 'x2lq7zexamplepatb3v6yq4wq3m5z2n7kexampleu7u2ll4xq5ha';
const roleArn = 'arn:aws:iam::123456789012:role/model-reader';
const keys = { username: 'AKIAIOSFODNN7EXAMPLE', password: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const endpoints: Record<string, Omit<EndpointSpec, 'id'>> = {
  fabrikam: { url: 'https://dev.azure.com/fabrikam', scheme: 'Token', auth: { apitoken: pat } },
  'fabrikam-empty': { url: 'https://dev.azure.com/fabrikam', scheme: 'Token', auth: { apitoken: '' } },
  'fabrikam-basic': { url: 'https://dev.azure.com/fabrikam', scheme: 'UsernamePassword', auth: { username: 'me', password: 'secret' } },
  'fabrikam-ftp': { url: 'ftp://dev.azure.com/fabrikam', scheme: 'Token', auth: { apitoken: pat } },
  'aws-role': { scheme: 'UsernamePassword', auth: { ...keys, assumeRoleArn: roleArn, externalId: 'contoso-7f3a9c' } },
  'aws-role-named': { scheme: 'UsernamePassword', auth: { ...keys, assumeRoleArn: roleArn, roleSessionName: 'nightly-fetch' } },
  'aws-role-no-keys': { scheme: 'UsernamePassword', auth: { assumeRoleArn: roleArn } },
  'aws-role-bad-arn': { scheme: 'UsernamePassword', auth: { ...keys, assumeRoleArn: 'model-reader' } },
  'aws-role-bad-session': { scheme: 'UsernamePassword', auth: { ...keys, assumeRoleArn: roleArn, roleSessionName: 'nightly fetch' } },
  'aws-role-bad-external': { scheme: 'UsernamePassword', auth: { ...keys, assumeRoleArn: roleArn, externalId: 'a b' } },
  'aws-oidc': { scheme: 'None', auth: { role: roleArn, roleSessionName: 'oidc-fetch' } },
  'aws-oidc-no-role': { scheme: 'None', auth: {} },
};
const variables = {
  'Agent.TempDirectory': '/agent/_temp',
  'Build.BuildId': '4242',
  'System.TeamProjectId': 'c0ffee00-0000-4000-8000-00000000c0de',
  'System.CollectionUri': 'https://dev.azure.com/contoso/',
  'System.AccessToken': 'eyJ0eXAiOiJKV1Qi.job-token',
  'System.HostType': 'build',
  'System.PlanId': '8a1f0c1e-1111-4111-8111-111111111111',
  'System.JobId': '9b2f0c1e-2222-4222-8222-222222222222',
};
const artifact = { source: 'pipelineArtifact', pipeline: 'train-churn', artifactName: 'model', destination: '/tmp/model' };
const s3 = { source: 's3', s3Bucket: 'contoso-models', s3Region: 'eu-central-1', destination: '/tmp/model' };

function read(inputs: Record<string, string>) {
  const agent = fakeAgent(inputs, { variables, endpoints });
  return { inputs: readFetchInputs(agent), agent };
}

function rejected(inputs: Record<string, string>): TaskError {
  try {
    read(inputs);
  } catch (error) {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${error}`);
    return error;
  }
  assert.fail('expected the inputs to be rejected');
}

type Case = [string, Record<string, string>, string, RegExp];

function rejectsAll(title: string, cases: Case[]): void {
  describe(title, () => {
    it('has at least 8 cases', () => assert.ok(cases.length >= 8));
    for (const [what, inputs, input, message] of cases) {
      it(`rejects ${what}, naming input '${input}'`, () => {
        const error = rejected(inputs);
        assert.ok(error instanceof InputError, `expected an InputError, got ${error.key}: ${error.message}`);
        assert.equal(error.input, input);
        assert.match(error.message, message);
        assert.match(error.message, new RegExp(`'${input}'`));
        assert.ok(!error.message.includes(pat) && !error.message.includes(keys.password));
      });
    }
  });
}

describe('FetchLatestModel service connections', () => {
  describe('pipelineArtifact with an Azure Repos/Team Foundation Server connection', () => {
    it('reads the organization URL and the PAT; the PAT and its Basic form are masked and kept out of a dump', () => {
      const { inputs, agent } = read({ ...artifact, azureDevOpsConnection: 'fabrikam', project: 'Research Models' });
      assert.ok(inputs.access.kind === 'pipelineArtifact');
      if (inputs.access.kind !== 'pipelineArtifact') return;
      const { collectionUri, project, credential } = inputs.access.artifact;
      assert.deepEqual([collectionUri, project], ['https://dev.azure.com/fabrikam/', 'Research Models']);
      assert.deepEqual([credential.kind, credential.token], ['pat', pat]);
      assert.ok(agent.secrets.includes(Buffer.from(`PAT:${pat}`).toString('base64')), 'the Basic form is registered');
      assert.ok(!agent.secrets.includes(variables['System.AccessToken']), 'the job token is not even read');
      const dump = JSON.stringify(inputs);
      assert.ok(!dump.includes(pat) && !dump.includes(Buffer.from(`PAT:${pat}`).toString('base64')));
    });

    it('takes a project id as well as a name', () => {
      const { inputs } = read({ ...artifact, azureDevOpsConnection: 'fabrikam', project: '6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c' });
      assert.ok(inputs.access.kind === 'pipelineArtifact' && inputs.access.artifact.project === '6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c');
    });

    it('without a connection, project picks another project of the job\'s organization, with the job\'s token', () => {
      const { inputs } = read({ ...artifact, project: 'shared-models' });
      assert.ok(inputs.access.kind === 'pipelineArtifact');
      if (inputs.access.kind !== 'pipelineArtifact') return;
      assert.deepEqual([inputs.access.artifact.collectionUri, inputs.access.artifact.project, inputs.access.artifact.credential.kind], ['https://dev.azure.com/contoso/', 'shared-models', 'bearer']);
    });
  });

  rejectsAll('pipelineArtifact connection: bad input', [
    ['a connection without a project', { ...artifact, azureDevOpsConnection: 'fabrikam' }, 'project', /required when azureDevOpsConnection is set/],
    ['a project name with a slash', { ...artifact, azureDevOpsConnection: 'fabrikam', project: 'ml/models' }, 'project', /'ml\/models'.*name or id/],
    ['a project name over 64 characters', { ...artifact, project: 'p'.repeat(65) }, 'project', /at most 64 characters/],
    ['a project name starting with an underscore', { ...artifact, project: '_models' }, 'project', /does not start with _/],
    ['a project name ending with a period', { ...artifact, project: 'models.' }, 'project', /nor end with \./],
    ['a reserved project name', { ...artifact, azureDevOpsConnection: 'fabrikam', project: 'DefaultCollection' }, 'project', /reserved name/],
    ['a service connection the job cannot see', { ...artifact, azureDevOpsConnection: 'gone', project: 'research' }, 'azureDevOpsConnection', /'gone', which this job cannot see/],
    ['a connection with an empty token', { ...artifact, azureDevOpsConnection: 'fabrikam-empty', project: 'research' }, 'azureDevOpsConnection', /holds no personal access token.*Build \(Read\)/],
    ['a connection with basic authentication', { ...artifact, azureDevOpsConnection: 'fabrikam-basic', project: 'research' }, 'azureDevOpsConnection', /scheme 'UsernamePassword'.*token-based authentication/],
    ['a connection whose URL is not http(s)', { ...artifact, azureDevOpsConnection: 'fabrikam-ftp', project: 'research' }, 'azureDevOpsConnection', /'ftp:\/\/dev\.azure\.com\/fabrikam' is not an organization URL.*https:\/\/dev\.azure\.com\/fabrikam/],
  ]);

  describe('s3 with an AWS connection that assumes a role', () => {
    it('reads the role, its ExternalId and a session name per run; the keys sign AssumeRole', () => {
      const { inputs } = read({ ...s3, awsCredentials: 'aws-role' });
      assert.ok(inputs.access.kind === 's3');
      if (inputs.access.kind !== 's3') return;
      assert.deepEqual(inputs.access.s3.role, { roleArn, sessionName: 'azure-pipelines-4242', externalId: 'contoso-7f3a9c', signIn: { kind: 'accessKey' } });
      assert.equal(inputs.access.s3.credentials?.accessKeyId, keys.username);
      assert.ok(!JSON.stringify(inputs).includes(keys.password));
    });

    it('uses the connection\'s session name when it sets one', () => {
      const { inputs } = read({ ...s3, awsCredentials: 'aws-role-named' });
      assert.ok(inputs.access.kind === 's3' && inputs.access.s3.role?.sessionName === 'nightly-fetch');
    });

    it('reads the OpenID Connect option as a web identity role with the job\'s OIDC context, without keys', () => {
      const { inputs, agent } = read({ ...s3, awsCredentials: 'aws-oidc' });
      assert.ok(inputs.access.kind === 's3');
      if (inputs.access.kind !== 's3') return;
      const role = inputs.access.s3.role!;
      assert.equal(inputs.access.s3.credentials, undefined);
      assert.equal(role.sessionName, 'oidc-fetch');
      assert.ok(role.signIn.kind === 'webIdentity' && role.signIn.devOps.serviceConnectionId === 'aws-oidc' && role.signIn.devOps.planId === variables['System.PlanId']);
      assert.ok(agent.secrets.includes(variables['System.AccessToken']), 'the job token that asks for the OIDC token is masked');
    });
  });

  rejectsAll('s3 role connection: bad input', [
    ['a role without keys (instance profile)', { ...s3, awsCredentials: 'aws-role-no-keys' }, 'awsCredentials', /assumes role .*model-reader without an access key.*instance profile/],
    ['a role ARN that is not an ARN', { ...s3, awsCredentials: 'aws-role-bad-arn' }, 'awsCredentials', /role ARN 'model-reader' is not valid.*arn:aws:iam::123456789012:role\/model-reader/],
    ['a session name with a space', { ...s3, awsCredentials: 'aws-role-bad-session' }, 'awsCredentials', /role session name 'nightly fetch' is not valid: 2 to 64/],
    ['an external ID with a space', { ...s3, awsCredentials: 'aws-role-bad-external' }, 'awsCredentials', /external ID 'a b' is not valid/],
    ['an OIDC connection without a role', { ...s3, awsCredentials: 'aws-oidc-no-role' }, 'awsCredentials', /OpenID Connect but names no role/],
    ['a role connection the job cannot see', { ...s3, awsCredentials: 'aws-gone' }, 'awsCredentials', /cannot see/],
    ['a role connection and keys at once', { ...s3, awsCredentials: 'aws-role', awsAccessKeyId: keys.username, awsSecretAccessKey: keys.password }, 'awsCredentials', /not both/],
    ['a bucket name in capitals, with a role', { ...s3, awsCredentials: 'aws-role', s3Bucket: 'Models' }, 's3Bucket', /lower-case letters/],
  ]);
});
