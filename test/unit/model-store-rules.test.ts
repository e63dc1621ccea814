import { strict as assert } from 'node:assert';
import { tokenOrigins } from '../../tasks/common/devops/artifactDownload';
import { RemoteError, SettingError, TaskError } from '../../tasks/common/errors';
import { HttpStatusError, NetworkError, ProxyError, StoppedError } from '../../tasks/common/net/errors';
import { blobEndpointOf, datastorePathOf } from '../../tasks/common/model/azureMlStore';
import { explainS3Error, type S3ErrorContext } from '../../tasks/common/model/s3Errors';
import { md5OfETag } from '../../tasks/common/model/s3Store';
import { matchesTagQuery } from '../../tasks/common/model/tagQuery';
import { settingFailure } from '../support/fetchHarness';

describe('S3 integrity: which ETags are an MD5', () => {
  const hex = '9e107d9d372bb6826bd81d3542a419d6';
  const base64 = Buffer.from(hex, 'hex').toString('base64');
  it('a single-part upload, unencrypted or with S3-managed keys, is the hex MD5', () => {
    assert.equal(md5OfETag({ ETag: `"${hex}"` }), base64);
    assert.equal(md5OfETag({ ETag: `"${hex}"`, ServerSideEncryption: 'AES256' }), base64);
  });
  it('a multipart ETag, SSE-KMS or SSE-C is not a digest of the bytes', () => {
    assert.equal(md5OfETag({ ETag: `"${hex}-12"` }), undefined);
    assert.equal(md5OfETag({ ETag: `"${hex}"`, ServerSideEncryption: 'aws:kms' }), undefined);
    assert.equal(md5OfETag({ ETag: `"${hex}"`, ServerSideEncryption: 'aws:kms:dsse' }), undefined);
    assert.equal(md5OfETag({ ETag: `"${hex}"`, SSECustomerAlgorithm: 'AES256' }), undefined);
  });
});

describe('S3 errors say what to fix', () => {
  const context: S3ErrorContext = { bucket: 'models', region: 'us-east-1', endpoint: undefined, location: 's3://models' };
  const sdkError = (name: string, status: number, headers: Record<string, string> = {}) => Object.assign(new Error(`${name} from S3`), { name, $metadata: { httpStatusCode: status }, $response: { headers } });

  it('a bucket in another region names s3Region and the right region', () => {
    const error = explainS3Error(sdkError('PermanentRedirect', 301, { 'x-amz-bucket-region': 'eu-west-1' }), 'ListObjectsV2', context);
    assert.ok(settingFailure({ setting: 'storeRegion', key: 'S3WrongRegion', run: 's3Keys', input: 's3Region', message: /\(input 's3Region'\)\. Set s3Region to eu-west-1/ })(error));
  });
  it('AccessDenied names the secret input and the permissions', () => {
    const error = explainS3Error(sdkError('AccessDenied', 403), 'ListObjectsV2', context);
    assert.ok(settingFailure({ setting: 'storeCredential', key: 'S3AccessDenied', run: 's3Keys', input: 'awsSecretAccessKey', message: /input 'awsSecretAccessKey'.*s3:ListBucket/ })(error));
  });
  it('a vanished or replaced object is ObjectChanged', () => {
    assert.equal((explainS3Error(sdkError('NoSuchKey', 404), 'churn/1.0.0/a.bin', context) as TaskError).key, 'ObjectChanged');
    assert.equal((explainS3Error(sdkError('PreconditionFailed', 412), 'churn/1.0.0/a.bin', context) as TaskError).key, 'ObjectChanged');
  });
  it('a dropped connection during a ranged read passes through, typed, for the downloader to resume', () => {
    const dropped = new NetworkError('127.0.0.1:9000', 'ECONNRESET', 'socket hang up');
    assert.equal(explainS3Error(dropped, 'a.bin', context, { retryable: true }), dropped);
    assert.equal((explainS3Error(dropped, 'ListObjectsV2', context) as TaskError).key, 'S3Unreachable');
  });
  it('a ranged read answered with a retryable status becomes an HttpStatusError; a 4xx does not', () => {
    const busy = explainS3Error(sdkError('SlowDown', 503), 'a.bin', context, { retryable: true });
    assert.ok(busy instanceof HttpStatusError && busy.status === 503 && busy.peer === 's3.us-east-1.amazonaws.com' && /SlowDown/.test(busy.detail));
    assert.ok(explainS3Error(sdkError('AccessDenied', 403), 'a.bin', context, { retryable: true }) instanceof SettingError);
  });
  it('a stop or a proxy refusal keeps its type, for the task runner to explain', () => {
    const stopped = new StoppedError('cancelled', 'the agent cancelled the job');
    assert.equal(explainS3Error(stopped, 'ListObjectsV2', context), stopped);
    const proxy = new ProxyError('proxy:3128', 407, 'models.s3:443');
    assert.equal(explainS3Error(proxy, 'ListObjectsV2', context), proxy);
  });
  it('a 5xx after the SDK\'s retries is a RemoteError with the status', () => {
    const error = explainS3Error(sdkError('ServiceUnavailable', 503), 'ListObjectsV2', context);
    assert.ok(error instanceof RemoteError && /\(503\)/.test(error.message));
  });
});

describe('tag queries evaluated by the store (S3 object tags, Azure ML version tags)', () => {
  const tags = { stage: 'production', score: '0.93', approved: 'true' };
  it('matches AND-ed conditions with Azure\'s string comparisons', () => {
    assert.ok(matchesTagQuery(`"stage" = 'production' AND "approved" = 'true'`, tags, 'models'));
    assert.ok(matchesTagQuery(`"score" >= '0.9' AND "score" < '1'`, tags, 'models'));
    assert.ok(!matchesTagQuery(`"score" > '0.95'`, tags, 'models'));
    assert.ok(!matchesTagQuery(`"stage" = 'Production'`, tags, 'models'), 'values are case-sensitive');
  });
  it('a missing tag never matches, and @container names the container or bucket', () => {
    assert.ok(!matchesTagQuery(`"owner" <= 'zzz'`, tags, 'models'));
    assert.ok(matchesTagQuery(`@container = 'models' AND "stage" = 'production'`, tags, 'models'));
    assert.ok(!matchesTagQuery(`@container = 'other'`, tags, 'models'));
  });
  it('a tag named like an object property (valueOf, constructor) is missing unless the store reported it', () => {
    assert.ok(!matchesTagQuery(`"valueOf" >= ''`, tags, 'models'));
    assert.ok(!matchesTagQuery(`"constructor" >= ''`, {}, 'models'));
    assert.ok(matchesTagQuery(`"constructor" = 'x'`, { constructor: 'x' }, 'models'));
  });
});

describe('Azure ML model URIs and datastores', () => {
  it('reads the long and short datastore forms, decoding the path', () => {
    assert.deepEqual(datastorePathOf('azureml://subscriptions/s/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore/paths/LocalUpload/abc/model%20v2/'), { datastore: 'workspaceblobstore', path: 'LocalUpload/abc/model v2/' });
    assert.deepEqual(datastorePathOf('azureml://subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/datastores/ds/paths/m.pkl'), { datastore: 'ds', path: 'm.pkl' });
    assert.deepEqual(datastorePathOf('azureml://datastores/ds/paths/churn/3'), { datastore: 'ds', path: 'churn/3' });
  });
  it('maps a job output to the workspace artifact store', () => {
    assert.deepEqual(datastorePathOf('azureml://jobs/brave_cat_42/outputs/artifacts/paths/model/'), { datastore: 'workspaceartifactstore', path: 'ExperimentRun/dcid.brave_cat_42/model/' });
  });
  it('refuses what is not in a datastore', () => {
    assert.equal(datastorePathOf('https://acct.blob.core.windows.net/c/model.pkl'), undefined);
    assert.equal(datastorePathOf('azureml://registries/r/models/m/versions/1'), undefined);
  });
  it('builds the blob endpoint as Azure ML does, sovereign clouds included', () => {
    assert.equal(blobEndpointOf({ protocol: 'https', accountName: 'mlstore', endpoint: 'core.windows.net' }), 'https://mlstore.blob.core.windows.net/');
    assert.equal(blobEndpointOf({ protocol: 'https', accountName: 'mlstore', endpoint: 'core.chinacloudapi.cn' }), 'https://mlstore.blob.core.chinacloudapi.cn/');
  });
});

describe('who may see the job\'s access token or a PAT', () => {
  const collection = 'https://dev.azure.com/contoso/';
  const artifact = 'https://artprodcus3.artifacts.visualstudio.com/A1/p/_apis/artifact/x/content?format=zip';
  it('the collection\'s origin, and the artifact host the collection named, over https', () => {
    assert.deepEqual([...tokenOrigins(collection, artifact)], ['https://dev.azure.com', 'https://artprodcus3.artifacts.visualstudio.com']);
    assert.deepEqual([...tokenOrigins(collection, 'https://dev.azure.com/contoso/p/_apis/build/builds/1/artifacts?artifactName=m&%24format=zip')], ['https://dev.azure.com']);
  });
  it('no artifact host over plain http when the collection is https, and never another port of the same host', () => {
    assert.deepEqual([...tokenOrigins(collection, 'http://artprodcus3.artifacts.visualstudio.com/x')], ['https://dev.azure.com']);
    assert.ok(!tokenOrigins(collection, artifact).has('https://dev.azure.com:8443'));
    assert.ok(!tokenOrigins(collection, artifact).has('https://dev.azure.com.evil.example'));
  });
  it('an on-premises collection over plain http keeps its artifact host on its own scheme', () => {
    assert.deepEqual([...tokenOrigins('http://tfs.corp:8080/tfs/DefaultCollection/', 'http://tfs.corp:8080/tfs/DefaultCollection/p/_apis/x')], ['http://tfs.corp:8080']);
  });
});
