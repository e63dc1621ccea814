import { strict as assert } from 'node:assert';
import { blobEndpointOf, blobUrlOf } from '../../tasks/common/model/mlflowStore';

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
