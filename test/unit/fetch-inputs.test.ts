import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { DEFAULT_RETRY_POLICY } from '../../tasks/common/net/retry';
import { readFetchInputs, systemFolderHolding } from '../../tasks/common/pipeline/fetchInputs';
import { fakeAgent } from '../support/fakeAgent';

const base = { connectionType: 'connectionString', connectionString: 'UseDevelopmentStorage=true', container: 'models', destination: '/tmp/model' };

function inputError(inputs: Record<string, string>): InputError {
  try {
    readFetchInputs(fakeAgent(inputs, { variables: { 'Agent.TempDirectory': '/agent/tmp' } }));
  } catch (error) {
    assert.ok(error instanceof InputError, `expected an InputError, got ${error}`);
    return error;
  }
  assert.fail('expected the inputs to be rejected');
}

describe('FetchLatestModel inputs', () => {
  it('applies the documented defaults', () => {
    const inputs = readFetchInputs(fakeAgent({ connectionType: 'connectionString', connectionString: 'x', container: 'models' }, { variables: { 'Agent.TempDirectory': '/agent/tmp' } }));
    assert.equal(inputs.fetch.destination, path.join('/agent/tmp', 'model'));
    assert.deepEqual(inputs.fetch.rule, { kind: 'highestVersion' });
    assert.equal(inputs.fetch.verifyIntegrity, true);
    assert.equal(inputs.fetch.includePrereleases, false, 'pre-releases are skipped unless asked for');
    assert.equal(inputs.fetch.download.concurrency, 8);
    assert.equal(inputs.fetch.download.blockSize, 16 * 1024 * 1024);
    assert.equal(inputs.fetch.download.retry.attempts, 5 + 1, 'retries after the first attempt');
    assert.equal(inputs.fetch.timeoutMs, 3_600_000);
    assert.equal(inputs.fetch.cacheDirectory, undefined);
    assert.ok(Object.isFrozen(inputs) && Object.isFrozen(inputs.fetch));
  });

  it('registers the connection string as a secret as it reads it', () => {
    const agent = fakeAgent(base);
    readFetchInputs(agent);
    assert.deepEqual(agent.secrets, ['UseDevelopmentStorage=true']);
  });

  it('reads includePrereleases, and takes a pinned pipeline run whatever its build number says', () => {
    assert.equal(readFetchInputs(fakeAgent({ ...base, includePrereleases: 'true' })).fetch.includePrereleases, true);
    assert.equal(readFetchInputs(fakeAgent({ ...base, selection: 'pinned', version: '1.0.0-rc.1' })).fetch.includePrereleases, false, 'the selection core takes a pinned version as named');
  });

  describe('source oci', () => {
    const oci = { source: 'oci', ociRepository: 'contosoacr.azurecr.io/models/churn', destination: '/tmp/model' };
    const registryEndpoint = { scheme: 'UsernamePassword', auth: { registry: 'https://contosoacr.azurecr.io', username: 'puller', password: 'p4ss' }, data: { registrytype: 'Others' } };
    const read = (inputs: Record<string, string>) => readFetchInputs(fakeAgent({ ...oci, ...inputs }, { endpoints: { reg: registryEndpoint } }));

    it('reads the repository, the connection and the image folder, and ignores modelPrefix', () => {
      const inputs = read({ containerRegistry: 'reg', modelPathInImage: '/models/churn/', modelPrefix: 'x/' });
      assert.ok(inputs.access.kind === 'oci');
      assert.deepEqual({ ...inputs.access.model, scratchFolder: '' }, { registry: 'contosoacr.azurecr.io', repository: 'models/churn', modelPathInImage: 'models/churn', scratchFolder: '', concurrency: 8 });
      assert.deepEqual(inputs.access.credential, { kind: 'basic', username: 'puller', password: 'p4ss' });
      assert.equal(inputs.access.insecure, false);
      assert.equal(inputs.fetch.prefix, '');
      assert.equal(inputs.settings.modelPathInImage, 'modelPathInImage');
      const anonymous = read({}).access;
      assert.equal(anonymous.kind === 'oci' && anonymous.credential.kind, 'anonymous');
    });

    const ociCases: [string, Record<string, string>, string, RegExp][] = [
      ['a missing repository', { ociRepository: '' }, 'ociRepository', /required when source is 'oci'/],
      ['a repository with a tag', { ociRepository: 'contosoacr.azurecr.io/models/churn:1.0' }, 'ociRepository', /without a tag or digest/],
      ['a repository with capitals', { ociRepository: 'contosoacr.azurecr.io/Models/churn' }, 'ociRepository', /'Models'.*not valid/],
      ['a connection for another registry', { ociRepository: 'other.azurecr.io/models/churn', containerRegistry: 'reg' }, 'ociRepository', /connection for contosoacr\.azurecr\.io/],
      ['the image root as model folder', { modelPathInImage: '/' }, 'modelPathInImage', /not the image's root/],
      ['a model folder climbing out', { modelPathInImage: '/models/../etc' }, 'modelPathInImage', /'\.\.'/],
      ['allowInsecureRegistry not boolean', { allowInsecureRegistry: 'maybe' }, 'allowInsecureRegistry', /'maybe'.*true or false/],
    ];
    for (const [title, inputs, input, message] of ociCases) {
      it(`rejects ${title}, naming input '${input}'`, () => {
        assert.throws(() => read(inputs), (error: unknown) => error instanceof InputError && error.input === input && message.test(error.message));
      });
    }
  });

  describe('source mlflow', () => {
    const mlflow = { source: 'mlflow', mlflowTrackingUri: 'https://mlflow.contoso.com/', registeredModel: 'churn', destination: '/tmp/model' };
    const read = (inputs: Record<string, string>) => readFetchInputs(fakeAgent({ ...mlflow, ...inputs }));

    it('reads the server, the model, the alias and the token (as a secret)', () => {
      const agent = fakeAgent({ ...mlflow, mlflowAlias: 'champion', mlflowToken: 'dapi-secret' });
      const inputs = readFetchInputs(agent);
      assert.ok(inputs.access.kind === 'mlflow');
      assert.deepEqual(inputs.access.model, { trackingUri: 'https://mlflow.contoso.com', registeredModel: 'churn', alias: 'champion', token: 'dapi-secret' });
      assert.deepEqual(agent.secrets, ['dapi-secret']);
      assert.equal(inputs.settings.trackingCredential, 'mlflowToken');
      assert.equal(inputs.settings.modelLabel, 'mlflowAlias');
    });

    const mlflowCases: [string, Record<string, string>, string, RegExp][] = [
      ['a missing tracking URI', { mlflowTrackingUri: '' }, 'mlflowTrackingUri', /required when source is 'mlflow'/],
      ['a tracking URI that is not http(s)', { mlflowTrackingUri: 'databricks' }, 'mlflowTrackingUri', /an http\(s\) URL/],
      ['a tracking URI holding credentials', { mlflowTrackingUri: 'https://user:pw@mlflow.contoso.com' }, 'mlflowTrackingUri', /without credentials/],
      ['a missing registered model', { registeredModel: '' }, 'registeredModel', /required when source is 'mlflow'/],
      ['an alias with a space', { mlflowAlias: 'the champion' }, 'mlflowAlias', /'the champion'.*letters, digits/],
    ];
    for (const [title, inputs, input, message] of mlflowCases) {
      it(`rejects ${title}, naming input '${input}'`, () => {
        assert.throws(() => read(inputs), (error: unknown) => error instanceof InputError && error.input === input && message.test(error.message));
      });
    }
    const amlUri = 'azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/0b1f/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/contoso-ml';
    const armEndpoint = { url: 'https://management.azure.com/', scheme: 'ServicePrincipal', auth: { tenantid: 't', serviceprincipalid: 'c', authenticationType: 'spnKey', serviceprincipalkey: 'k' }, data: { subscriptionId: '0b1f' } };

    it('reads an Azure ML workspace tracking URI as its https REST base, with the AzureRM connection for the tracking server', () => {
      const inputs = readFetchInputs(fakeAgent({ ...mlflow, mlflowTrackingUri: amlUri, azureSubscription: 'arm' }, { endpoints: { arm: armEndpoint } }));
      assert.ok(inputs.access.kind === 'mlflow');
      assert.equal(inputs.access.model.trackingUri, amlUri.replace('azureml://', 'https://'));
      assert.deepEqual(inputs.access.model.azureMlWorkspace, { subscriptionId: '0b1f', resourceGroup: 'ml-rg', workspace: 'contoso-ml' });
      assert.equal(inputs.access.azure?.connection.name, 'arm');
      assert.equal(inputs.settings.trackingCredential, 'azureSubscription');
      assert.equal(inputs.settings.storeCredential, 'azureSubscription');
    });

    it('takes the AzureRM connection for Blob Storage artifacts of another server, the token still for the server', () => {
      const inputs = readFetchInputs(fakeAgent({ ...mlflow, mlflowToken: 'dapi-secret', azureSubscription: 'arm' }, { endpoints: { arm: armEndpoint } }));
      assert.ok(inputs.access.kind === 'mlflow' && inputs.access.azure);
      assert.equal(inputs.settings.trackingCredential, 'mlflowToken');
      assert.equal(inputs.access.model.azureMlWorkspace, undefined);
    });

    it('leaves the connection out when connectionType is not azureResourceManager', () => {
      const inputs = readFetchInputs(fakeAgent({ ...mlflow, connectionType: 'connectionString', connectionString: 'AccountName=a;AccountKey=b', azureSubscription: 'arm' }, { endpoints: { arm: armEndpoint } }));
      assert.ok(inputs.access.kind === 'mlflow' && !inputs.access.azure);
      assert.equal(inputs.settings.storeCredential, 'connectionString');
    });

    const azureCases: [string, Record<string, string>, string, RegExp][] = [
      ['an Azure ML tracking URI without a connection or a token', { mlflowTrackingUri: amlUri }, 'azureSubscription', /Azure ML workspace's MLflow endpoint.*Azure Resource Manager service connection/],
      ['a connection that does not exist', { mlflowTrackingUri: amlUri, azureSubscription: 'nope' }, 'azureSubscription', /nope/],
      ['an azureml:// URI that is not a workspace', { mlflowTrackingUri: 'azureml://eastus.api.azureml.ms/mlflow/v1.0/somewhere' }, 'mlflowTrackingUri', /azureml:\/\/<region>\.api\.azureml\.ms/],
    ];
    for (const [title, inputs, input, message] of azureCases) {
      it(`rejects ${title}, naming input '${input}'`, () => {
        assert.throws(() => readFetchInputs(fakeAgent({ ...mlflow, ...inputs }, { endpoints: { arm: armEndpoint } })), (error: unknown) => error instanceof InputError && error.input === input && message.test(error.message));
      });
    }

    it('never echoes the credentials of a tracking URI', () => {
      assert.throws(() => read({ mlflowTrackingUri: 'https://user:s3cret@mlflow.contoso.com' }), (error: unknown) => error instanceof Error && !error.message.includes('s3cret'));
    });
  });

  it('accepts pickList values in any case, as the agent does', () => {
    const inputs = readFetchInputs(fakeAgent({ ...base, selection: 'PINNED', version: 'v2' }));
    assert.deepEqual(inputs.fetch.rule, { kind: 'pinned', version: 'v2' });
  });

  const cases: [string, Record<string, string>, string, RegExp][] = [
    ['unknown connection type', { ...base, connectionType: 'accountKey' }, 'connectionType', /'accountKey'.*azureResourceManager, connectionString, sasUrl/],
    ['missing connection string', { ...base, connectionString: ' ' }, 'connectionString', /required when connectionType is 'connectionString'/],
    ['missing SAS URL', { ...base, connectionType: 'sasUrl', connectionString: '' }, 'sasUrl', /required/],
    ['missing service connection', { ...base, connectionType: 'azureResourceManager' }, 'azureSubscription', /required/],
    ['missing container', { ...base, container: '' }, 'container', /required/],
    ['container with capitals', { ...base, container: 'My_Models' }, 'container', /'My_Models'.*lower-case/],
    ['container with double hyphen', { ...base, container: 'my--models' }, 'container', /single hyphens/],
    ['unknown selection', { ...base, selection: 'latest' }, 'selection', /'latest'.*highestVersion, newest, tagQuery, pinned/],
    ['pinned without version', { ...base, selection: 'pinned' }, 'version', /required when selection is 'pinned'/],
    ['tag query without quotes', { ...base, selection: 'tagQuery', tagQuery: "stage = 'production'" }, 'tagQuery', /double quotes/],
    ['tag query with OR', { ...base, selection: 'tagQuery', tagQuery: `"a" = '1' OR "b" = '2'` }, 'tagQuery', /OR is not supported/],
    ['tag query value without quotes', { ...base, selection: 'tagQuery', tagQuery: `"stage" = production` }, 'tagQuery', /expected "tag" operator 'value'/],
    ['concurrency not a number', { ...base, concurrency: 'eight' }, 'concurrency', /'eight'.*whole number from 1 to 64/],
    ['concurrency zero', { ...base, concurrency: '0' }, 'concurrency', /0.*from 1 to 64/],
    ['block size too large', { ...base, blockSizeMiB: '1024' }, 'blockSizeMiB', /1024.*from 1 to 256/],
    ['negative retries', { ...base, retries: '-1' }, 'retries', /-1.*from 0 to 20/],
    ['timeout too small', { ...base, timeoutSeconds: '5' }, 'timeoutSeconds', /5.*from 10 to 86400/],
    ['verifyIntegrity not boolean', { ...base, verifyIntegrity: 'yes' }, 'verifyIntegrity', /'yes'.*true or false/],
    ['includePrereleases not boolean', { ...base, includePrereleases: 'rc' }, 'includePrereleases', /'rc'.*true or false/],
  ];
  for (const [title, inputs, input, message] of cases) {
    it(`rejects ${title}, naming input '${input}'`, () => {
      const error = inputError(inputs);
      assert.equal(error.input, input);
      assert.match(error.message, message);
      assert.match(error.message, new RegExp(`'${input}'`));
    });
  }

  for (const [title, destination] of [['the sources folder', '/agent/_work/1/s'], ['a folder that holds the sources', '/agent/_work/1'], ['the file system root', '/']]) {
    it(`refuses to replace ${title} with the model`, () => {
      assert.throws(
        () => readFetchInputs(fakeAgent({ ...base, destination }, { variables: { 'Build.SourcesDirectory': '/agent/_work/1/s', 'Agent.TempDirectory': '/agent/_work/_temp' } })),
        (error: unknown) => error instanceof InputError && error.input === 'destination' && /replaced as a whole/.test(error.message),
      );
    });
  }

  for (const [destination, system] of [['/etc', '/etc'], ['/etc/ssl/model', '/etc'], ['/usr', '/usr'], ['/usr/lib/model', '/usr/lib'], ['/home', '/home'], ['/var', '/var'], ['/boot/m', '/boot'], ['/proc/self', '/proc'], ['/lib64', '/lib64']]) {
    it(`refuses the system folder ${system} for destination ${destination}`, () => {
      assert.throws(
        () => readFetchInputs(fakeAgent({ ...base, destination }, { variables: { 'Agent.TempDirectory': '/agent/_work/_temp' } })),
        (error: unknown) => error instanceof InputError && error.input === 'destination' && error.key === 'DestinationSystemFolder' && error.message.includes(`'${destination}'`) && error.message.includes(`system folder ${system}.`),
      );
    });
  }

  it('accepts folders of its own below shared folders', () => {
    for (const destination of ['/home/vsts/work/model', '/var/lib/agent/model', '/tmp/model', '/opt/models/churn', '/usr/local/models']) {
      assert.equal(readFetchInputs(fakeAgent({ ...base, destination })).fetch.destination, destination);
    }
  });

  it('knows Windows system folders whatever the drive letter or case', () => {
    assert.equal(systemFolderHolding('C:\\Windows', 'win32'), 'C:\\Windows');
    assert.equal(systemFolderHolding('d:\\program files (x86)\\models', 'win32'), 'd:\\program files (x86)');
    assert.equal(systemFolderHolding('C:\\Users', 'win32'), 'C:\\Users');
    assert.equal(systemFolderHolding('C:\\Users\\builder\\model', 'win32'), undefined);
    assert.equal(systemFolderHolding('D:\\a\\_work\\_temp\\model', 'win32'), undefined);
  });

  it('accepts a valid tag query with AND and @container', () => {
    const inputs = readFetchInputs(fakeAgent({ ...base, selection: 'tagQuery', tagQuery: `@container = 'models' AND "stage" = 'production' and "score" >= '0.9'` }));
    assert.equal(inputs.fetch.rule.kind, 'tagQuery');
  });
});

describe('FetchLatestModel defaults: task.json alone holds them', () => {
  const task = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'tasks', 'FetchLatestModelV1', 'task.json'), 'utf8')) as { inputs: { name: string; defaultValue?: string }[] };
  const defaultOf = (name: string) => task.inputs.find((input) => input.name === name)?.defaultValue ?? assert.fail(`task.json gives ${name} no default`);
  const variables = { 'Agent.TempDirectory': '/agent/tmp' };
  const endpoints = {
    arm: {
      url: 'https://management.azure.com/',
      scheme: 'ServicePrincipal',
      auth: { tenantid: '72f988bf-86f1-41af-91ab-2d7cd011db47', serviceprincipalid: '11111111-1111-4111-8111-111111111111', authenticationType: 'spnKey', serviceprincipalkey: 'key' },
      data: { subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590' },
    },
  };

  it('reads every default the reader applies from task.json, as the build generated it', () => {
    const inputs = readFetchInputs(fakeAgent({ azureSubscription: 'arm', storageAccount: 'contoso', container: 'models' }, { variables, endpoints }));
    assert.equal(inputs.access.kind, defaultOf('connectionType'), 'source azureBlob, by its connectionType');
    assert.equal(inputs.fetch.rule.kind, defaultOf('selection'));
    assert.equal(inputs.fetch.verifyIntegrity, defaultOf('verifyIntegrity') === 'true');
    assert.equal(inputs.fetch.includePrereleases, defaultOf('includePrereleases') === 'true');
    assert.equal(inputs.fetch.download.concurrency, Number(defaultOf('concurrency')));
    assert.equal(inputs.fetch.download.blockSize, Number(defaultOf('blockSizeMiB')) * 1024 * 1024);
    assert.equal(inputs.fetch.timeoutMs, Number(defaultOf('timeoutSeconds')) * 1000);
    assert.equal(inputs.fetch.destination, path.resolve(defaultOf('destination').replace('$(Agent.TempDirectory)', variables['Agent.TempDirectory'])));
  });

  it('builds one retry policy from retries, with the network layer\'s own base delay, for the store and the download alike', () => {
    const inputs = readFetchInputs(fakeAgent({ azureSubscription: 'arm', storageAccount: 'contoso', container: 'models' }, { variables, endpoints }));
    assert.equal(inputs.fetch.download.retry.attempts, Number(defaultOf('retries')) + 1);
    assert.equal(inputs.fetch.download.retry.baseDelayMs, DEFAULT_RETRY_POLICY.baseDelayMs);
    assert.ok(inputs.access.kind === 'azureResourceManager' && inputs.access.retry === inputs.fetch.download.retry);
  });

  it('reads the same with an input left empty as with task.json\'s default typed in, for every input that has one', () => {
    const runs: Record<string, string>[] = [
      { azureSubscription: 'arm', storageAccount: 'contoso', container: 'models' },
      { source: 's3', s3Bucket: 'models', s3Region: 'us-east-1', awsAccessKeyId: 'AKIAIOSFODNN7EXAMPLE', awsSecretAccessKey: 'secret' },
    ];
    const withDefaults = task.inputs.filter((input) => input.defaultValue);
    assert.ok(withDefaults.length >= 9);
    for (const run of runs) {
      const empty = readFetchInputs(fakeAgent(run, { variables, endpoints }));
      for (const input of withDefaults) {
        const typed = input.defaultValue!.replace('$(Agent.TempDirectory)', variables['Agent.TempDirectory']);
        assert.deepEqual(readFetchInputs(fakeAgent({ [input.name]: typed, ...run }, { variables, endpoints })), empty, `${input.name} = '${typed}'`);
      }
    }
  });
});
