import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FetchLatestModelInputs } from '../../tasks/common/contract/fetchLatestModel';
import { INPUT_SLOT, SettingError, TaskError, settingSlot } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { boolInput, intInput, pickInput, textInput } from '../../tasks/common/pipeline/inputs';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { fakeAgent } from '../support/fakeAgent';

const fetchTask = JSON.parse(readFileSync(join(__dirname, '..', '..', 'tasks', 'FetchLatestModelV1', 'task.json'), 'utf8')) as { inputs: { name: string; defaultValue?: string }[] };
const defaultOf = (name: string) => fetchTask.inputs.find((input) => input.name === name)?.defaultValue;

describe('settings: a core failure names a setting, the task names the input', () => {
  it('turns a SettingError into the InputError of the input that carried the setting in this run', () => {
    const failure = new SettingError('storeContainer', 'InputInvalid', ['{input}', 'models', 'no such container']);
    const error = asInputError(failure, { storeContainer: 'container' });
    assert.ok(error instanceof InputError);
    assert.equal(error.input, 'container');
    assert.equal(error.key, 'InputInvalid');
    assert.match(error.message, /^Input 'container' is 'models'/);
    assert.equal(error.cause, failure);
  });

  it('names the setting itself when a task forgot to map it, rather than nothing', () => {
    const error = asInputError(new SettingError('storeRegion', 'InputInvalid', ['{input}', 'x', 'y']), {}) as InputError;
    assert.equal(error.input, 'storeRegion');
  });

  it('fills the slot only where the message keeps it, never inside a value the user typed', () => {
    const typed = `"{input}" = 'yes'`;
    const error = asInputError(new SettingError('tagQuery', 'InputInvalid', [INPUT_SLOT, typed, 'no such tag']), { tagQuery: 'tagQuery' }) as InputError;
    assert.equal(error.message, `Input 'tagQuery' is '${typed}': no such tag`);
  });

  it('names the inputs of other settings the message names (settingSlot) by this run\'s table too', () => {
    const failure = new SettingError('cluster', 'AksCredentialsUnusable', [settingSlot('clusterConnection'), settingSlot('resourceGroup'), INPUT_SLOT, 'aks-1', 'rg-1', 'arm-1', 'user', 'no current-context', settingSlot('useClusterAdmin')]);
    const error = asInputError(failure, { clusterConnection: 'azureSubscription', resourceGroup: 'resourceGroup', cluster: 'kubernetesCluster' }) as InputError;
    assert.equal(error.input, 'kubernetesCluster');
    assert.match(error.message, /^Inputs 'azureSubscription', 'resourceGroup' and 'kubernetesCluster' name AKS cluster 'aks-1' in resource group 'rg-1' \(service connection 'arm-1'\)/);
    // A setting the table leaves out is named as itself, as the failure's own is.
    assert.match(error.message, /or switch 'useClusterAdmin' to use its other credentials\.$/);
    assert.ok(!error.message.includes('{input'), error.message);
  });

  it('passes every other error through as it is', () => {
    const other = new TaskError('FetchSucceeded', ['m', '1', 'sha256:0']);
    assert.equal(asInputError(other, { a: 'b' }), other);
  });
});

describe('readers over the contract generated from task.json', () => {
  it('take defaults from task.json', () => {
    const agent = fakeAgent({});
    assert.equal(intInput(agent, FetchLatestModelInputs.retries, { min: 0, max: 20 }), Number(defaultOf('retries')));
    assert.equal(pickInput(agent, FetchLatestModelInputs.source), defaultOf('source'));
    assert.equal(boolInput(agent, FetchLatestModelInputs.verifyIntegrity), defaultOf('verifyIntegrity') === 'true');
    assert.equal(textInput(agent, FetchLatestModelInputs.modelPrefix), defaultOf('modelPrefix') || undefined);
  });

  it('read the pick list from task.json and type the answer by it', () => {
    const source: 'azureBlob' | 's3' | 'pipelineArtifact' | 'azureMLRegistry' | 'oci' | 'mlflow' = pickInput(fakeAgent({ source: 'S3' }), FetchLatestModelInputs.source);
    assert.equal(source, 's3');
    assert.throws(() => pickInput(fakeAgent({ source: 'ftp' }), FetchLatestModelInputs.source), (error: InputError) => error.input === 'source' && /azureBlob, s3, pipelineArtifact, azureMLRegistry, oci, mlflow/.test(error.message));
  });
});
