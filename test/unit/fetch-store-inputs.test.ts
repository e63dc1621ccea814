import { strict as assert } from 'node:assert';
import { TaskError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { readFetchInputs } from '../../tasks/common/pipeline/fetchInputs';
import { fakeAgent } from '../support/fakeAgent';
import type { EndpointSpec } from '../support/fakeAzureEndpoint';

const variables = { 'Agent.TempDirectory': '/agent/_temp' };
const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const azureRm: Omit<EndpointSpec, 'id'> = {
  url: 'https://management.azure.com/',
  scheme: 'ServicePrincipal',
  auth: { tenantid: tenantId, serviceprincipalid: '11111111-1111-4111-8111-111111111111', authenticationType: 'spnKey', serviceprincipalkey: 'Xq8~secret' },
  data: { subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590' },
};
const endpoints: Record<string, Omit<EndpointSpec, 'id'>> = {
  'aws-keys': { scheme: 'UsernamePassword', auth: { username: 'AKIAIOSFODNN7EXAMPLE', password: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', sessionToken: 'FwoGZXIvYXdzEXAMPLE' } },
  'aws-role': { scheme: 'UsernamePassword', auth: { assumeRoleArn: 'arn:aws:iam::123456789012:role/models' } },
  'aws-half': { scheme: 'UsernamePassword', auth: { username: 'AKIAIOSFODNN7EXAMPLE' } },
  'azure-ml': azureRm,
  'azure-no-subscription': { ...azureRm, data: {} },
};
const devops = {
  ...variables,
  'System.TeamProjectId': 'c0ffee00-0000-4000-8000-00000000c0de',
  'System.CollectionUri': 'https://dev.azure.com/contoso/',
  'System.AccessToken': 'eyJ0eXAiOiJKV1Qi.job-token',
};

const s3 = { source: 's3', s3Bucket: 'contoso-models', s3Region: 'eu-central-1', awsAccessKeyId: 'AKIAIOSFODNN7EXAMPLE', awsSecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', destination: '/tmp/model' };
const artifact = { source: 'pipelineArtifact', pipeline: 'train-churn', artifactName: 'model', destination: '/tmp/model' };
const aml = { source: 'azureMLRegistry', azureSubscription: 'azure-ml', resourceGroup: 'ml-rg', workspace: 'contoso-ml', modelName: 'churn', destination: '/tmp/model' };

function read(inputs: Record<string, string>, vars: Record<string, string> = devops) {
  const agent = fakeAgent(inputs, { variables: vars, endpoints });
  return { inputs: readFetchInputs(agent), agent };
}

function rejected(inputs: Record<string, string>, vars: Record<string, string> = devops): TaskError {
  try {
    read(inputs, vars);
  } catch (error) {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${error}`);
    return error;
  }
  assert.fail('expected the inputs to be rejected');
}

type Case = [string, Record<string, string>, string, RegExp];

function rejectsAll(store: string, cases: Case[]): void {
  describe(`${store}: bad input`, () => {
    it('has at least 8 cases', () => assert.ok(cases.length >= 8));
    for (const [title, inputs, input, message] of cases) {
      it(`rejects ${title}, naming input '${input}'`, () => {
        const error = rejected(inputs);
        assert.ok(error instanceof InputError, `expected an InputError, got ${error.key}: ${error.message}`);
        assert.equal(error.input, input);
        assert.match(error.message, message);
        assert.match(error.message, new RegExp(`'${input}'`));
      });
    }
  });
}

describe('FetchLatestModel inputs per model store', () => {
  it('keeps azureBlob the default source, with its prefix and rule untouched', () => {
    const { inputs } = read({ connectionType: 'connectionString', connectionString: 'UseDevelopmentStorage=true', container: 'models', modelPrefix: 'churn/', selection: 'newest' });
    assert.equal(inputs.access.kind, 'connectionString');
    assert.equal(inputs.fetch.prefix, 'churn/');
    assert.deepEqual(inputs.fetch.rule, { kind: 'newest' });
  });

  describe('which input carries each setting the core may name, per store and connection', () => {
    const model = { modelSelection: 'selection', modelVersion: 'version', tagQuery: 'tagQuery', includePrereleases: 'includePrereleases', destination: 'destination' };
    const blob = { connectionType: 'connectionString', connectionString: 'UseDevelopmentStorage=true', container: 'models' };
    const cases: [string, Record<string, string>, Record<string, string>][] = [
      ['a connection string', blob, { storeCredential: 'connectionString', storeContainer: 'container' }],
      ['a SAS URL', { connectionType: 'sasUrl', sasUrl: 'https://contoso.blob.core.windows.net/models?sig=c2ln' }, { storeCredential: 'sasUrl', storeContainer: 'container' }],
      ['an AzureRM connection', { azureSubscription: 'azure-ml', storageAccount: 'contoso', container: 'models' }, { storeConnection: 'azureSubscription', storeCredential: 'azureSubscription', storageAccount: 'storageAccount', storeContainer: 'container' }],
      ['S3 keys in secret variables', s3, { storeCredential: 'awsSecretAccessKey', storeAccessKeyId: 'awsAccessKeyId', storeSessionToken: 'awsSessionToken', storeContainer: 's3Bucket', storeRegion: 's3Region', storeEndpoint: 's3Endpoint' }],
      ['an AWS connection', { ...s3, awsAccessKeyId: '', awsSecretAccessKey: '', awsCredentials: 'aws-keys' }, { storeCredential: 'awsCredentials', storeAccessKeyId: 'awsCredentials', storeSessionToken: 'awsCredentials', storeContainer: 's3Bucket', storeRegion: 's3Region', storeEndpoint: 's3Endpoint' }],
      ['a pipeline artifact', artifact, { devopsConnection: 'azureDevOpsConnection', pipeline: 'pipeline', artifactName: 'artifactName', pipelineRun: 'version' }],
      ['an Azure ML model', aml, { storeConnection: 'azureSubscription', storeCredential: 'azureSubscription', resourceGroup: 'resourceGroup', workspace: 'workspace', modelName: 'modelName', modelLabel: 'modelLabel' }],
      ['an MLflow model', { source: 'mlflow', mlflowTrackingUri: 'https://mlflow.contoso.com', registeredModel: 'churn' }, { trackingCredential: 'mlflowToken', modelName: 'registeredModel', modelLabel: 'mlflowAlias', storeCredential: 'azureSubscription', storeConnection: 'azureSubscription', resourceGroup: 'mlflowTrackingUri', workspace: 'mlflowTrackingUri' }],
      ['an MLflow model with its artifacts in S3', { source: 'mlflow', mlflowTrackingUri: 'https://mlflow.contoso.com', registeredModel: 'churn', awsAccessKeyId: 'AKIAIOSFODNN7EXAMPLE', awsSecretAccessKey: 'secret', s3Region: 'eu-central-1' }, { trackingCredential: 'mlflowToken', modelName: 'registeredModel', modelLabel: 'mlflowAlias', storeConnection: 'azureSubscription', resourceGroup: 'mlflowTrackingUri', workspace: 'mlflowTrackingUri', storeCredential: 'awsSecretAccessKey', storeAccessKeyId: 'awsAccessKeyId', storeSessionToken: 'awsSessionToken', storeRegion: 's3Region', storeEndpoint: 's3Endpoint' }],
      ['an OCI repository', { source: 'oci', ociRepository: 'contosoacr.azurecr.io/models/churn' }, { storeCredential: 'containerRegistry', storeContainer: 'ociRepository', modelPathInImage: 'modelPathInImage' }],
    ];
    for (const [title, inputs, store] of cases) {
      it(`with ${title}`, () => {
        const { settings } = read(inputs).inputs;
        assert.deepEqual(settings, { ...model, ...store });
        assert.ok(Object.isFrozen(settings));
      });
    }
  });

  it('rejects an unknown source, listing the five', () => {
    const error = rejected({ source: 'gcs', destination: '/tmp/model' });
    assert.ok(error instanceof InputError && error.input === 'source');
    assert.match(error.message, /'gcs'.*azureBlob, s3, pipelineArtifact, azureMLRegistry, oci, mlflow/);
  });

  describe('s3', () => {
    it('reads keys from secret inputs: registered as secrets, kept out of any dump', () => {
      const { inputs, agent } = read({ ...s3, awsSessionToken: 'FwoGZXIvYXdzEXAMPLEtoken' });
      assert.equal(inputs.access.kind, 's3');
      if (inputs.access.kind !== 's3') return;
      assert.equal(inputs.access.s3.region, 'eu-central-1');
      assert.equal(inputs.access.s3.forcePathStyle, false);
      assert.deepEqual(agent.secrets, [s3.awsSecretAccessKey, 'FwoGZXIvYXdzEXAMPLEtoken']);
      const dump = JSON.stringify(inputs);
      assert.ok(!dump.includes(s3.awsSecretAccessKey) && !dump.includes('FwoGZXIvYXdzEXAMPLEtoken'));
      assert.equal(inputs.fetch.prefix, '');
    });

    it('defaults the region to us-east-1 for an S3-compatible endpoint', () => {
      const { inputs } = read({ ...s3, s3Region: '', s3Endpoint: 'https://minio.example.com:9000/', s3ForcePathStyle: 'true' });
      assert.ok(inputs.access.kind === 's3' && inputs.access.s3.region === 'us-east-1' && inputs.access.s3.endpoint === 'https://minio.example.com:9000' && inputs.access.s3.forcePathStyle);
    });

    it('reads an AWS service connection as the AWS Toolkit shapes it (username, password, sessionToken)', () => {
      const { inputs } = read({ source: 's3', s3Bucket: 'contoso-models', s3Region: 'us-west-2', awsCredentials: 'aws-keys', destination: '/tmp/model' });
      assert.ok(inputs.access.kind === 's3');
      if (inputs.access.kind !== 's3') return;
      assert.deepEqual(inputs.access.s3.credentialSource, { kind: 'serviceConnection', name: 'aws-keys' });
      assert.deepEqual([inputs.settings.storeCredential, inputs.settings.storeAccessKeyId, inputs.settings.storeSessionToken], ['awsCredentials', 'awsCredentials', 'awsCredentials']);
      const { accessKeyId, secretAccessKey, sessionToken } = inputs.access.s3.credentials!;
      assert.deepEqual([accessKeyId, secretAccessKey, sessionToken], ['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'FwoGZXIvYXdzEXAMPLE']);
    });

    it('an endpoint holding credentials is refused without echoing them', () => {
      const error = rejected({ ...s3, s3Endpoint: 'https://admin:hunter2@minio.example.com' });
      assert.ok(error instanceof InputError && error.input === 's3Endpoint' && !error.message.includes('hunter2'));
    });
  });

  rejectsAll('s3', [
    ['a missing bucket', { ...s3, s3Bucket: '' }, 's3Bucket', /required when source is 's3'/],
    ['a bucket with capitals and underscores', { ...s3, s3Bucket: 'Models_2026' }, 's3Bucket', /lower-case letters, digits, dots and hyphens/],
    ['a bucket formatted as an IP address', { ...s3, s3Bucket: '192.168.10.1' }, 's3Bucket', /IP address/],
    ['a bucket with two dots in a row', { ...s3, s3Bucket: 'models..prod' }, 's3Bucket', /two dots/],
    ['a missing region for AWS', { ...s3, s3Region: '' }, 's3Region', /no s3Endpoint is set/],
    ['a region name instead of its code', { ...s3, s3Region: 'Frankfurt' }, 's3Region', /eu-central-1/],
    ['an endpoint that is not a URL', { ...s3, s3Endpoint: 'minio:9000 port' }, 's3Endpoint', /https:\/\/minio\.example\.com:9000/],
    ['an endpoint that is not http(s)', { ...s3, s3Endpoint: 'ftp://minio.example.com' }, 's3Endpoint', /http or https URL/],
    ['a path-style flag that is not boolean', { ...s3, s3ForcePathStyle: 'yes' }, 's3ForcePathStyle', /true or false/],
    ['no credentials at all', { ...s3, awsAccessKeyId: '', awsSecretAccessKey: '' }, 'awsAccessKeyId', /needs credentials.*'awsCredentials'/],
    ['an access key id without its secret', { ...s3, awsSecretAccessKey: '' }, 'awsSecretAccessKey', /required when awsAccessKeyId is set/],
    ['a secret without its access key id', { ...s3, awsAccessKeyId: '' }, 'awsAccessKeyId', /required when awsSecretAccessKey is set/],
    ['an access key id with a space', { ...s3, awsAccessKeyId: 'AKIA EXAMPLE' }, 'awsAccessKeyId', /no spaces/],
    ['a service connection and keys at once', { ...s3, awsCredentials: 'aws-keys' }, 'awsCredentials', /not both/],
    ['a service connection the job cannot see', { ...s3, awsAccessKeyId: '', awsSecretAccessKey: '', awsCredentials: 'aws-gone' }, 'awsCredentials', /cannot see/],
    ['a service connection that assumes a role without keys', { ...s3, awsAccessKeyId: '', awsSecretAccessKey: '', awsCredentials: 'aws-role' }, 'awsCredentials', /without an access key/],
    ['a service connection without its secret key', { ...s3, awsAccessKeyId: '', awsSecretAccessKey: '', awsCredentials: 'aws-half' }, 'awsCredentials', /lacks the access key id or the secret access key/],
  ]);

  describe('pipelineArtifact', () => {
    it('picks the run in the store: the generic rule takes its one version, the prefix stays inside the artifact', () => {
      const { inputs, agent } = read({ ...artifact, modelPrefix: 'model', branch: 'main', selection: 'pinned', version: '4242' });
      assert.deepEqual(inputs.fetch.rule, { kind: 'highestVersion' });
      assert.equal(inputs.fetch.prefix, '');
      assert.equal(inputs.access.kind, 'pipelineArtifact');
      if (inputs.access.kind !== 'pipelineArtifact') return;
      assert.deepEqual(inputs.access.artifact.run, { kind: 'pinned', runId: 4242 });
      assert.equal(inputs.access.artifact.modelPrefix, 'model/');
      assert.equal(inputs.access.artifact.branch, 'refs/heads/main');
      assert.equal(inputs.access.artifact.scratchFolder, '/agent/_temp');
      assert.deepEqual([inputs.access.artifact.credential.kind, inputs.access.artifact.credential.token], ['bearer', devops['System.AccessToken']]);
      assert.equal(inputs.access.artifact.project, devops['System.TeamProjectId'], 'the job\'s own project by default');
      assert.ok(!JSON.stringify(inputs).includes(devops['System.AccessToken']), 'the token stays out of a dump');
      assert.deepEqual(agent.secrets, [devops['System.AccessToken']]);
    });

    it('needs the job\'s access token and collection', () => {
      assert.equal(rejected(artifact, { ...devops, 'System.AccessToken': '' }).key, 'DevOpsAccessTokenMissing');
      assert.equal(rejected(artifact, { ...devops, 'System.CollectionUri': '' }).key, 'DevOpsContextMissing');
    });
  });

  rejectsAll('pipelineArtifact', [
    ['a missing pipeline', { ...artifact, pipeline: '' }, 'pipeline', /required when source is 'pipelineArtifact'/],
    ['a pipeline name with wildcards', { ...artifact, pipeline: 'train-*' }, 'pipeline', /name as shown under Pipelines/],
    ['a missing artifact name', { ...artifact, artifactName: '' }, 'artifactName', /required/],
    ['an artifact name with a slash', { ...artifact, artifactName: 'model/v1' }, 'artifactName', /no \\ \/ : \* \?/],
    ['a branch with a space', { ...artifact, branch: 'feature x' }, 'branch', /branch name such as main/],
    ['a branch with ..', { ...artifact, branch: 'release/..' }, 'branch', /refs\/heads\/main/],
    ['two run tags', { ...artifact, runTag: 'approved,prod' }, 'runTag', /one tag, without commas/],
    ['selection tagQuery', { ...artifact, selection: 'tagQuery', tagQuery: `"a" = 'b'` }, 'selection', /use input runTag/],
    ['a pinned version that is not a run id', { ...artifact, selection: 'pinned', version: 'v1.2' }, 'version', /run id/],
    ['a pinned run id of zero', { ...artifact, selection: 'pinned', version: '0' }, 'version', /buildId=/],
    ['a model prefix that climbs out', { ...artifact, modelPrefix: 'model/../..' }, 'modelPrefix', /without '\.' or '\.\.'/],
  ]);

  describe('azureMLRegistry', () => {
    it('reads the workspace and model; a leftover modelPrefix is ignored with a warning', () => {
      const { inputs, agent } = read({ ...aml, modelPrefix: 'churn/', modelLabel: 'Latest' });
      assert.equal(inputs.fetch.prefix, '');
      assert.equal(inputs.access.kind, 'azureMLRegistry');
      if (inputs.access.kind !== 'azureMLRegistry') return;
      assert.equal(inputs.access.model.subscriptionId, '0b1f6471-1bf0-4dda-aec3-cb9272f09590');
      assert.equal(inputs.access.model.label, 'latest');
      assert.ok(agent.lines.some((line) => /WARNING Input 'modelPrefix' \('churn\/'\) does not apply/.test(line)));
    });
  });

  rejectsAll('azureMLRegistry', [
    ['a missing service connection', { ...aml, azureSubscription: '' }, 'azureSubscription', /required when source is 'azureMLRegistry'/],
    ['a service connection the job cannot see', { ...aml, azureSubscription: 'gone' }, 'azureSubscription', /cannot see/],
    ['a connection without a subscription', { ...aml, azureSubscription: 'azure-no-subscription' }, 'azureSubscription', /no subscription ID/],
    ['another connection type', { ...aml, connectionType: 'connectionString' }, 'connectionType', /use azureResourceManager/],
    ['a missing resource group', { ...aml, resourceGroup: '' }, 'resourceGroup', /required/],
    ['a resource group ending with a period', { ...aml, resourceGroup: 'ml-rg.' }, 'resourceGroup', /do not end with a period/],
    ['a missing workspace', { ...aml, workspace: '' }, 'workspace', /required/],
    ['a workspace name too short', { ...aml, workspace: 'ml' }, 'workspace', /3 to 33/],
    ['a missing model name', { ...aml, modelName: '' }, 'modelName', /required/],
    ['a model name starting with a hyphen', { ...aml, modelName: '-churn' }, 'modelName', /starting with a letter or digit/],
    ['a label Azure ML does not have', { ...aml, modelLabel: 'production' }, 'modelLabel', /one label, latest/],
    ['the latest label with a pinned version', { ...aml, modelLabel: 'latest', selection: 'pinned', version: '3' }, 'modelLabel', /cannot be combined with selection 'pinned'/],
  ]);
});
