import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BakeModelIntoImageInputs } from '../../tasks/common/contract/bakeModelIntoImage';
import { SettingError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { readModelEntries } from '../../tasks/common/oci/modelFiles';
import { readBakeInputs } from '../../tasks/common/pipeline/bakeInputs';
import { intInput } from '../../tasks/common/pipeline/inputs';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { fakeAgent } from '../support/fakeAgent';

const base = { baseImage: 'myacr.azurecr.io/churn-app:41', modelPath: '/agent/tmp/model', tags: '42' };
const registryEndpoint = { scheme: 'UsernamePassword', auth: { registry: 'https://myacr.azurecr.io', username: 'pusher', password: 'p4ss-w0rd' }, data: { registrytype: 'Others' } };
const acrEndpoint = {
  scheme: 'ServicePrincipal',
  auth: { loginServer: 'myacr.azurecr.io', serviceprincipalid: 'c1', serviceprincipalkey: 'spn-secret', tenantId: 't1' },
  data: { registrytype: 'ACR' },
};

/** An agent whose endpoints remember which parameters were read as secrets (registered before use). */
function recordingAgent(inputs: Record<string, string>) {
  const agent = fakeAgent(inputs, { endpoints: { reg: registryEndpoint, acr: acrEndpoint } });
  const secretReads: string[] = [];
  const endpoint = agent.endpoint;
  agent.endpoint = (id) => {
    const found = endpoint(id) as (ReturnType<typeof endpoint> & { secretReads: string[] }) | undefined;
    if (!found) return undefined;
    return { ...found, secretAuthParameter: (key: string) => (secretReads.push(key), found.secretAuthParameter(key)) };
  };
  return { agent, secretReads };
}

/** A P-384 key: valid PEM, but not a curve the signer takes. */
function secp384KeyFile(): string {
  const file = join(tmpdir(), `bake-inputs-p384-${process.pid}.pem`);
  writeFileSync(file, generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return file;
}

function read(inputs: Record<string, string>, variables: Record<string, string> = {}) {
  return readBakeInputs(fakeAgent(inputs, { variables, endpoints: { reg: registryEndpoint, acr: acrEndpoint } }));
}

function inputError(inputs: Record<string, string>, variables: Record<string, string> = {}): InputError {
  try {
    read(inputs, variables);
  } catch (error) {
    assert.ok(error instanceof InputError, `expected an InputError, got ${error}`);
    return error;
  }
  assert.fail('expected the inputs to be rejected');
}

describe('BakeModelIntoImage inputs', () => {
  after(() => rmSync(join(tmpdir(), `bake-inputs-p384-${process.pid}.pem`), { force: true }));
  it('attaches unsigned provenance by default and reads a PEM signer and the model URI', () => {
    const plain = read(base);
    assert.deepEqual(plain.options.provenance, { builder: { id: 'BakeModelIntoImage@1', version: plain.options.provenance!.builder.version }, modelUri: undefined });
    assert.match(plain.options.provenance!.builder.version, /^1\.\d+\.\d+$/);
    assert.equal(read({ ...base, provenance: 'false' }).options.provenance, undefined);
    const keyFile = join(tmpdir(), `bake-inputs-key-${process.pid}.pem`);
    writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const signed = read({ ...base, signingKey: 'pemFile', signingKeyFile: keyFile, modelUri: 'azureml://registries/r/models/churn/versions/3' });
    rmSync(keyFile);
    assert.equal(signed.options.provenance!.modelUri, 'azureml://registries/r/models/churn/versions/3');
    assert.equal(typeof signed.options.provenance!.signer, 'function');
  });

  it('reads modelUri for a zero-copy bake, and leaves it out when empty', () => {
    const uri = `oci://myacr.azurecr.io/models/churn@sha256:${'a'.repeat(64)}`;
    const inputs = read({ ...base, modelUri: ` ${uri} ` });
    assert.ok(inputs.mode === 'appendLayer' && inputs.options.modelUri === uri);
    const without = read(base);
    assert.ok(without.mode === 'appendLayer' && !('modelUri' in without.options));
  });

  it('applies the documented defaults', () => {
    const inputs = read(base);
    assert.equal(inputs.mode, 'appendLayer');
    if (inputs.mode !== 'appendLayer') return;
    const { options } = inputs;
    assert.deepEqual({ ...options.target }, { registry: 'myacr.azurecr.io', repository: 'churn-app' });
    assert.deepEqual(options.tags, ['42']);
    assert.equal(options.bake.modelDirectory, '/models');
    assert.equal(options.bake.setModelEnv, true);
    assert.equal(options.compression, 'none');
    assert.equal(options.mtime, 0);
    assert.equal(options.bake.created, '1970-01-01T00:00:00Z');
    assert.equal(options.registry.credential.kind, 'anonymous');
    assert.equal(options.registry.insecure, false);
    assert.equal(options.registry.concurrency, 4);
    assert.equal(options.registry.retryPolicy.attempts, 6, 'retries 5: six attempts in all');
    assert.equal(options.timeoutMs, 3_600_000);
    assert.ok(Object.isFrozen(inputs) && Object.isFrozen(options));
  });

  it('takes SOURCE_DATE_EPOCH for created and file times', () => {
    const inputs = read(base, { SOURCE_DATE_EPOCH: '1700000000' });
    assert.equal(inputs.mode === 'appendLayer' && inputs.options.mtime, 1_700_000_000);
    assert.equal(inputs.options.bake.created, '2023-11-14T22:13:20Z');
  });

  it('records the pipeline run, and nothing when addPipelineData is off', () => {
    const variables = { 'System.CollectionUri': 'https://dev.azure.com/org/', 'System.TeamProject': 'Churn App', 'Build.BuildId': '7', 'Build.SourceVersion': 'abc' };
    assert.equal(read(base, variables).options.bake.pipelineRun?.runUrl, 'https://dev.azure.com/org/Churn%20App/_build/results?buildId=7');
    assert.equal(read({ ...base, addPipelineData: 'false' }, variables).options.bake.pipelineRun, undefined);
  });

  it('reads timeoutSeconds and retries into the overall deadline and the retry policy', () => {
    const { options } = read({ ...base, timeoutSeconds: '90', retries: '0' });
    assert.equal(options.timeoutMs, 90_000);
    assert.equal(options.registry.retryPolicy.attempts, 1, 'retries 0: one attempt');
  });

  it('splits tags on lines and commas and drops duplicates', () => {
    assert.deepEqual(read({ ...base, tags: '42\nlatest, 42\n\n' }).options.tags, ['42', 'latest']);
  });

  it('reads a username/password connection and registers the password as a secret', () => {
    const { agent, secretReads } = recordingAgent({ ...base, containerRegistry: 'reg' });
    const inputs = readBakeInputs(agent);
    assert.deepEqual(inputs.options.registry.credential, { kind: 'basic', username: 'pusher', password: 'p4ss-w0rd' });
    assert.deepEqual(secretReads, ['password']);
  });

  it('reads an ACR connection as an Entra identity for the login server', () => {
    const { agent, secretReads } = recordingAgent({ ...base, containerRegistry: 'acr' });
    const inputs = readBakeInputs(agent);
    assert.equal(inputs.options.registry.credential.kind, 'entra');
    assert.deepEqual(secretReads, ['serviceprincipalkey']);
  });

  const cases: [string, Record<string, string>, string, RegExp][] = [
    ['unknown mode', { ...base, mode: 'kaniko' }, 'mode', /'kaniko'.*appendLayer, dockerBuild/],
    ['missing base image', { ...base, baseImage: '' }, 'baseImage', /required when mode is 'appendLayer'/],
    ['malformed base image', { ...base, baseImage: 'myacr.azurecr.io/Churn App' }, 'baseImage', /no spaces/],
    ['base image with upper case', { ...base, baseImage: 'myacr.azurecr.io/ChurnApp:1' }, 'baseImage', /'ChurnApp' is not valid/],
    ['bad digest', { ...base, baseImage: 'myacr.azurecr.io/app@sha256:abc' }, 'baseImage', /not a sha256 digest/],
    ['target with a tag', { ...base, image: 'myacr.azurecr.io/app:1' }, 'image', /without a tag or digest/],
    ['invalid tag', { ...base, tags: 'ok\n-bad' }, 'tags', /'-bad'.*does not start with/],
    ['tag too long', { ...base, tags: 'x'.repeat(129) }, 'tags', /up to 128/],
    ['missing model path', { ...base, modelPath: '' }, 'modelPath', /required.*\$\(fetch.modelPath\)/],
    ['relative model directory', { ...base, modelDirectory: 'models' }, 'modelDirectory', /absolute path/],
    ['model directory with ..', { ...base, modelDirectory: '/models/../etc' }, 'modelDirectory', /without '.' or '..'/],
    ['model directory /', { ...base, modelDirectory: '/' }, 'modelDirectory', /below '\/'/],
    ['model digest not sha256', { ...base, modelDigest: 'md5:abc' }, 'modelDigest', /sha256:/],
    ['model version with spaces', { ...base, modelVersion: '1.0 beta' }, 'modelVersion', /without spaces/],
    ['label without =', { ...base, labels: 'team' }, 'labels', /KEY=VALUE/],
    ['unknown compression', { ...base, compression: 'zstd' }, 'compression', /'zstd'.*none, gzip/],
    ['retries not a number', { ...base, retries: 'many' }, 'retries', /not a whole number/],
    ['timeoutSeconds not a number', { ...base, timeoutSeconds: '1h' }, 'timeoutSeconds', /Input 'timeoutSeconds' is '1h', which is not a whole number. Use a whole number from 5 to 86400/],
    ['timeoutSeconds below the range', { ...base, timeoutSeconds: '2' }, 'timeoutSeconds', /Input 'timeoutSeconds' is 2, which is out of range. Use a whole number from 5 to 86400/],
    ['timeoutSeconds above the range', { ...base, timeoutSeconds: '86401' }, 'timeoutSeconds', /is 86401, which is out of range/],
    ['timeoutSeconds negative', { ...base, timeoutSeconds: '-60' }, 'timeoutSeconds', /is -60, which is out of range/],
    ['service connection not visible', { ...base, containerRegistry: 'missing' }, 'containerRegistry', /cannot see/],
    ['target in another registry than the connection', { ...base, containerRegistry: 'reg', image: 'other.io/app' }, 'image', /registry other.io.*myacr.azurecr.io/],
    ['dockerBuild without image', { ...base, mode: 'dockerBuild', dockerfile: '/src/Dockerfile' }, 'image', /required when mode is 'dockerBuild'/],
    ['bad SOURCE_DATE_EPOCH', base, 'SOURCE_DATE_EPOCH', /whole seconds/],
    ['provenance that is not a boolean', { ...base, provenance: 'yes please' }, 'provenance', /'yes please'/],
    ['an unknown signing key kind', { ...base, signingKey: 'gpg' }, 'signingKey', /'gpg'.*none, azureKeyVault, pemFile/],
    ['pemFile without a key file', { ...base, signingKey: 'pemFile' }, 'signingKeyFile', /required when signingKey is 'pemFile'/],
    ['azureKeyVault without a key id', { ...base, signingKey: 'azureKeyVault', keyVaultConnection: 'acr' }, 'keyVaultKeyId', /required when signingKey is 'azureKeyVault'/],
    ['a Key Vault key id that is not one', { ...base, signingKey: 'azureKeyVault', keyVaultKeyId: 'http://vault/keys/k', keyVaultConnection: 'acr' }, 'keyVaultKeyId', /'http:\/\/vault\/keys\/k': expected a Key Vault key identifier/],
    ['azureKeyVault without a connection', { ...base, signingKey: 'azureKeyVault', keyVaultKeyId: 'https://v1.vault.azure.net/keys/sign' }, 'keyVaultConnection', /required when signingKey is 'azureKeyVault'/],
    ['a model URI with a query string', { ...base, modelUri: 'https://store.example/model?sig=secret' }, 'modelUri', /without credentials or query string/],
    ['a model URI that is not one', { ...base, modelUri: 'just a name' }, 'modelUri', /'just a name'/],
    ['a signing key file that is not there', { ...base, signingKey: 'pemFile', signingKeyFile: '/nonexistent/key.pem' }, 'signingKeyFile', /Input 'signingKeyFile': the signing key \/nonexistent\/key.pem could not be read as a PEM private key/],
    ['a signing key on another curve', { ...base, signingKey: 'pemFile', signingKeyFile: secp384KeyFile() }, 'signingKeyFile', /an ECDSA key on secp384r1; only P-256/],
  ];
  for (const [title, inputs, input, message] of cases) {
    it(`rejects ${title}, naming input ${input}`, () => {
      const error = inputError(inputs, title === 'bad SOURCE_DATE_EPOCH' ? { SOURCE_DATE_EPOCH: 'yesterday' } : {});
      assert.equal(error.input, input);
      assert.match(error.message, message);
    });
  }

  it('refuses a tagged target in the words users saw before', () => {
    const error = inputError({ ...base, image: 'myacr.azurecr.io/app:1' });
    assert.equal(error.message, "Input 'image' is 'myacr.azurecr.io/app:1': give a repository without a tag or digest; tags go in the tags input. Expected e.g. myacr.azurecr.io/churn-app:1.0");
  });

  it('rejects a connection with no password, naming the connection and the parameter', () => {
    const agent = fakeAgent({ ...base, containerRegistry: 'reg' }, { endpoints: { reg: { ...registryEndpoint, auth: { registry: 'https://myacr.azurecr.io', username: 'u' } } } });
    assert.throws(() => readBakeInputs(agent), /'reg' has no 'password'/);
  });
});

describe('BakeModelIntoImage inputs against task.json', () => {
  const task = JSON.parse(readFileSync(join(__dirname, '..', '..', 'tasks', 'BakeModelIntoImageV1', 'task.json'), 'utf8')) as { inputs: { name: string; defaultValue?: string }[] };
  const defaultOf = (name: string) => task.inputs.find((input) => input.name === name)?.defaultValue;

  it("takes every default from task.json's defaultValue", () => {
    const variables = { 'System.CollectionUri': 'https://dev.azure.com/org/', 'System.TeamProject': 'p', 'Build.BuildId': '7' };
    const inputs = read(base, variables);
    assert.equal(inputs.mode, defaultOf('mode'));
    if (inputs.mode !== 'appendLayer') return;
    const { options } = inputs;
    assert.equal(options.registry.retryPolicy.attempts, Number(defaultOf('retries')) + 1, 'one attempt, then each retry');
    assert.equal(options.registry.chunkSize, Number(defaultOf('chunkSizeMiB')) * 1024 * 1024);
    assert.equal(options.timeoutMs, Number(defaultOf('timeoutSeconds')) * 1000);
    assert.equal(options.compression, defaultOf('compression'));
    assert.equal(options.bake.modelDirectory, defaultOf('modelDirectory'));
    assert.equal(options.bake.setModelEnv, defaultOf('setModelEnv') === 'true');
    assert.equal(options.registry.insecure, defaultOf('allowInsecureRegistry') === 'true');
    assert.equal(options.bake.pipelineRun !== undefined, defaultOf('addPipelineData') === 'true');
  });

  it('reads a whole-number default that task.json types as a string, so a new default needs no code', () => {
    assert.equal(intInput(fakeAgent({}), { ...BakeModelIntoImageInputs.retries, default: '7' }, { min: 0, max: 20 }), 7);
    assert.equal(intInput(fakeAgent({ retries: '2' }), BakeModelIntoImageInputs.retries, { min: 0, max: 20 }), 2);
  });

  it('maps every setting the core may name to an input task.json declares', () => {
    const declared = new Set(task.inputs.map((input) => input.name));
    for (const [setting, input] of Object.entries(read(base).settings)) assert.ok(declared.has(input), `${setting} -> ${input}`);
  });

  it("reports a model the core refuses as input modelPath, in the words users saw before", async () => {
    const missing = join(tmpdir(), `no-model-${process.pid}`, 'model');
    const error = await readModelEntries(missing).then(() => assert.fail('expected a refusal'), (failure: unknown) => failure);
    assert.ok(error instanceof SettingError && error.setting === 'modelPath' && error.key === 'ModelPathMissing', String(error));
    const reported = asInputError(error, read(base).settings);
    assert.ok(reported instanceof InputError && reported.input === 'modelPath');
    assert.equal(reported.message, `Input 'modelPath' is '${missing}', which does not exist. Point it at the model file or folder, typically $(fetch.modelPath) from Fetch Latest Model.`);
  });
});
