import { strict as assert } from 'node:assert';
import { azureMlTrackingOf, workspaceOfDatastoreUri } from '../../tasks/common/model/azureMlTracking';
import { azureBlobOf, blobEndpointOf, blobUrlOf } from '../../tasks/common/model/mlflowStore';

describe('MLflow artifact URIs in Blob Storage', () => {
  it('turns wasbs and abfss URIs into blob URLs, and drops a query', () => {
    assert.equal(blobUrlOf('wasbs://mlflow@contoso.blob.core.windows.net/1/run9/artifacts/model'), 'https://contoso.blob.core.windows.net/mlflow/1/run9/artifacts/model');
    assert.equal(blobUrlOf('abfss://mlflow@contoso.dfs.core.windows.net/1/model/'), 'https://contoso.blob.core.windows.net/mlflow/1/model');
    assert.equal(blobUrlOf('https://contoso.blob.core.windows.net/mlflow/1/model?sv=2024&sig=x'), 'https://contoso.blob.core.windows.net/mlflow/1/model');
    assert.equal(blobUrlOf('s3://bucket/key'), undefined);
  });

  it('finds the blob endpoint of a connection string', () => {
    assert.equal(blobEndpointOf('DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=a2V5;EndpointSuffix=core.windows.net'), 'https://contoso.blob.core.windows.net');
    assert.equal(blobEndpointOf('AccountName=contoso;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;'), 'http://127.0.0.1:10000/devstoreaccount1');
    assert.equal(blobEndpointOf('UseDevelopmentStorage=true'), undefined);
  });
});

describe('Azure ML MLflow tracking URIs', () => {
  const path = '/mlflow/v1.0/subscriptions/0b1f/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/contoso-ml';
  const workspace = { subscriptionId: '0b1f', resourceGroup: 'ml-rg', workspace: 'contoso-ml' };

  it('reads the azureml:// form and the https form as the https REST base and the workspace', () => {
    assert.deepEqual(azureMlTrackingOf(`azureml://eastus.api.azureml.ms${path}`), { restBase: `https://eastus.api.azureml.ms${path}`, workspace });
    assert.deepEqual(azureMlTrackingOf(`https://eastus.api.azureml.ms${path}/`), { restBase: `https://eastus.api.azureml.ms${path}`, workspace });
  });

  it('is undefined for other servers, http, a query or a path that is not a workspace', () => {
    assert.equal(azureMlTrackingOf('https://mlflow.contoso.com'), undefined);
    assert.equal(azureMlTrackingOf(`http://eastus.api.azureml.ms${path}`), undefined);
    assert.equal(azureMlTrackingOf(`azureml://eastus.api.azureml.ms${path}?x=1`), undefined);
    assert.equal(azureMlTrackingOf(`azureml://eastus.api.azureml.ms${path}/experiments/1`), undefined);
  });

  it('finds the workspace a long datastore URI names, and none in the short form', () => {
    assert.deepEqual(workspaceOfDatastoreUri('azureml://subscriptions/0b1f/resourcegroups/ml-rg/workspaces/contoso-ml/datastores/workspaceblobstore/paths/a/b'), workspace);
    assert.equal(workspaceOfDatastoreUri('azureml://datastores/workspaceblobstore/paths/a/b'), undefined);
  });
});

describe('Azure Blob Storage hosts that may get an Entra token', () => {
  it('splits an Azure Blob Storage URL into endpoint, container and path', () => {
    assert.deepEqual(azureBlobOf('https://contoso.blob.core.windows.net/mlflow/1/run9/artifacts/model'), { endpoint: 'https://contoso.blob.core.windows.net/', container: 'mlflow', path: '1/run9/artifacts/model' });
    assert.deepEqual(azureBlobOf('https://contoso.dfs.core.chinacloudapi.cn/mlflow'), { endpoint: 'https://contoso.blob.core.chinacloudapi.cn/', container: 'mlflow', path: '' });
  });

  it('refuses any other host, and http: the token must not go where the tracking server points', () => {
    for (const url of ['https://evil.example.com/mlflow/x', 'https://contoso.blob.core.windows.net.evil.example.com/mlflow/x', 'http://contoso.blob.core.windows.net/mlflow/x', 'https://127.0.0.1:10000/devstoreaccount1/mlflow/x']) {
      assert.equal(azureBlobOf(url), undefined, url);
    }
  });
});
