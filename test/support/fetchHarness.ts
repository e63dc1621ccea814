/**
 * What the store integration tests share: fetch options sized for tests, the files a version
 * folder holds, the folder-digest listing, and the check that a folder holds exactly a model.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SettingError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import type { MessageKey } from '../../tasks/common/messages';
import type { FetchOptions } from '../../tasks/common/model/fetch';
import type { SelectionRule } from '../../tasks/common/model/select';
import { policyForRetries } from '../../tasks/common/net/retry';
import { readFetchInputs } from '../../tasks/common/pipeline/fetchInputs';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { fakeAgent } from './fakeAgent';
import type { EndpointSpec } from './fakeAzureEndpoint';
import { randomBytes, sha256 } from './modelStore';

const MiB = 1024 * 1024;


/** Options for fetchLatestModel into `<work>/model`: 1 MiB blocks, 4 connections, short retries. */
export function testFetchOptions(work: string, overrides: Partial<FetchOptions> = {}): FetchOptions {
  return {
    prefix: 'churn/',
    rule: { kind: 'highestVersion' },
    includePrereleases: false,
    destination: join(work, 'model'),
    verifyIntegrity: true,
    download: { concurrency: 4, blockSize: MiB, retry: policyForRetries(3, { baseDelayMs: 50 }), idleTimeoutMs: 10_000 },
    timeoutMs: 30_000,
    ...overrides,
  };
}

/** The files published under `prefix`, by their path relative to it. */
export function filesUnder(published: Record<string, Buffer>, prefix: string): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(published).filter(([name]) => name.startsWith(prefix)).map(([name, data]) => [name.slice(prefix.length), data]));
}

/** The sha256sum-format listing a folder model's digest is the sha256 of. */
export function digestListing(files: Record<string, Buffer>): string {
  return Object.entries(files).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map(([path, data]) => `${sha256(data)}  ${path}\n`).join('');
}

export function assertHolds(folder: string, expected: Record<string, Buffer>): void {
  const found = readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(folder.length + 1)).sort();
  assert.deepEqual(found, Object.keys(expected).sort(), 'the folder holds exactly the model files');
  for (const [relative, data] of Object.entries(expected)) assert.ok(readFileSync(join(folder, relative)).equals(data), `${relative} is byte-identical`);
}

export type Publish = (name: string, data: Buffer, tags?: Record<string, string>) => Promise<void>;

/**
 * The model layout every path store is tested with: folder versions of churn (nested paths, tags,
 * an unversioned name, one version published a second later) and single-file versions of fraud.
 */
export async function publishTestModels(publish: Publish, weights: Buffer): Promise<void> {
  await publish('churn/1.9.3/model.bin', randomBytes(1000), { stage: 'production' });
  await publish('churn/1.9.3/tokenizer/vocab/words.txt', Buffer.from('a\nb\n'), { stage: 'production' });
  await publish('churn/1.10.0/model.bin', weights, { stage: 'staging' });
  await publish('churn/1.10.0/tokenizer/vocab/words.txt', Buffer.from('a\nb\nc\n'));
  await publish('churn/README.md', Buffer.from('not a model'));
  await new Promise((resolve) => setTimeout(resolve, 1100)); // Azurite's and s3rver's last-modified times have one-second resolution
  await publish('churn/1.2.0/model.bin', randomBytes(300));
  // A release candidate: the highest, the newest (ties with 1.2.0 broken by version) and tagged production.
  await publish('churn/1.11.0-rc.1/model.bin', randomBytes(200), { stage: 'production' });
  await publish('fraud/fraud-2.0.0.onnx', randomBytes(2 * MiB + 5));
  await publish('fraud/fraud-2.0.0-rc.1.onnx', randomBytes(10));
  await publish('fraud/fraud-1.0.0.onnx', randomBytes(10));
}

/** What each selection rule picks among the churn versions publishTestModels publishes, without and with pre-releases. */
export const SELECTION_CASES: readonly [SelectionRule, string, boolean][] = [
  [{ kind: 'highestVersion' }, '1.10.0', false],
  [{ kind: 'newest' }, '1.2.0', false],
  [{ kind: 'tagQuery', query: `"stage" = 'production'` }, '1.9.3', false],
  [{ kind: 'pinned', version: 'v1.9.3' }, '1.9.3', false],
  [{ kind: 'pinned', version: '1.11.0-rc.1' }, '1.11.0-rc.1', false],
  [{ kind: 'highestVersion' }, '1.11.0-rc.1', true],
  [{ kind: 'newest' }, '1.11.0-rc.1', true],
  [{ kind: 'tagQuery', query: `"stage" = 'production'` }, '1.11.0-rc.1', true],
];

/** One run's inputs per way of reaching a store: what the task would read before the core ran. */
const RUNS = {
  connectionString: { connectionType: 'connectionString', connectionString: 'UseDevelopmentStorage=true', container: 'models' },
  sasUrl: { connectionType: 'sasUrl', sasUrl: 'https://contoso.blob.core.windows.net/models?sv=2024-08-04&sig=c2ln' },
  azureResourceManager: { connectionType: 'azureResourceManager', azureSubscription: 'azure', storageAccount: 'contoso', container: 'models' },
  s3Keys: { source: 's3', s3Bucket: 'models', s3Region: 'us-east-1', awsAccessKeyId: 'AKIAIOSFODNN7EXAMPLE', awsSecretAccessKey: 'secret' },
  s3Connection: { source: 's3', s3Bucket: 'models', s3Region: 'us-east-1', awsCredentials: 'aws' },
  pipelineArtifact: { source: 'pipelineArtifact', pipeline: 'train-churn', artifactName: 'model' },
  pipelineArtifactConnection: { source: 'pipelineArtifact', pipeline: 'train-churn', artifactName: 'model', azureDevOpsConnection: 'fabrikam', project: 'research' },
  azureMLRegistry: { source: 'azureMLRegistry', azureSubscription: 'azure', resourceGroup: 'ml-rg', workspace: 'contoso-ml', modelName: 'churn' },
} as const satisfies Record<string, Record<string, string>>;

const RUN_ENDPOINTS: Record<string, Omit<EndpointSpec, 'id'>> = {
  azure: {
    url: 'https://management.azure.com/',
    scheme: 'ServicePrincipal',
    auth: { tenantid: '72f988bf-86f1-41af-91ab-2d7cd011db47', serviceprincipalid: '11111111-1111-4111-8111-111111111111', authenticationType: 'spnKey', serviceprincipalkey: 'key' },
    data: { subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590' },
  },
  aws: { scheme: 'UsernamePassword', auth: { username: 'AKIAIOSFODNN7EXAMPLE', password: 'secret' } },
  fabrikam: { url: 'https://dev.azure.com/fabrikam', scheme: 'Token', auth: { apitoken: 'pat' } },
};

const RUN_VARIABLES = {
  'Agent.TempDirectory': '/agent/_temp',
  'System.CollectionUri': 'https://dev.azure.com/contoso/',
  'System.TeamProjectId': 'c0ffee00-0000-4000-8000-00000000c0de',
  'System.AccessToken': 'job-token',
};

/**
 * A core failure as the task reports it in a run that reached its store this way: the InputError
 * of the input that carried the failing setting (the reader's own table), with its message.
 */
export function reportedAs(error: unknown, run: keyof typeof RUNS): InputError {
  assert.ok(error instanceof SettingError, `expected a SettingError, got ${error}`);
  const { settings } = readFetchInputs(fakeAgent({ ...RUNS[run], destination: '/tmp/model' }, { variables: RUN_VARIABLES, endpoints: RUN_ENDPOINTS }));
  const reported = asInputError(error, settings);
  assert.ok(reported instanceof InputError);
  return reported;
}

export interface ExpectedSettingFailure {
  readonly setting: string;
  readonly key: MessageKey;
  /** How the run reached its store, and the input the task then names. */
  readonly run: keyof typeof RUNS;
  readonly input: string;
  /** What the user reads, the input's name filled in. */
  readonly message?: RegExp;
  /** A secret the message must not show. */
  readonly hides?: string;
}

/** For assert.rejects / throws: the core's SettingError, and what the task reports for it. */
export function settingFailure(expected: ExpectedSettingFailure): (error: unknown) => true {
  return (error) => {
    const seen = reportedAs(error, expected.run);
    assert.equal((error as SettingError).setting, expected.setting);
    assert.equal(seen.key, expected.key);
    assert.equal(seen.input, expected.input);
    if (expected.message) assert.match(seen.message, expected.message);
    if (expected.hides) assert.ok(!seen.message.includes(expected.hides), 'the message shows no secret');
    return true;
  };
}
