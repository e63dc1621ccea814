import { strict as assert } from 'node:assert';
import { runAnnotationsFor, withRunAnnotations } from '../../tasks/common/kube/traceability';
import type { KubeObject } from '../../tasks/common/kube/types';

describe('run traceability annotations (as Microsoft\'s Kubernetes tasks write them)', () => {
  const common = { collectionUri: 'https://dev.azure.com/contoso', collectionId: 'org-id', project: 'churn ml', jobName: 'Deploy', pipelineId: '9' };

  it('names a build run by number and links its results page', () => {
    assert.deepEqual(runAnnotationsFor({ ...common, hostType: 'build', pipelineName: 'CI', runName: '20261206.1', runId: '41' }), {
      'azure-pipelines/execution': '20261206.1', 'azure-pipelines/pipeline': 'CI', 'azure-pipelines/pipelineId': '9', 'azure-pipelines/jobName': 'Deploy',
      'azure-pipelines/executionuri': 'https://dev.azure.com/contoso/churn%20ml/_build/results?buildId=41', 'azure-pipelines/project': 'churn ml', 'azure-pipelines/org': 'org-id',
    });
  });

  it('links a classic release to its release progress page', () => {
    const annotations = runAnnotationsFor({ ...common, hostType: 'Release', pipelineName: 'Nightly', runName: '7', runId: '7' });
    assert.equal(annotations['azure-pipelines/executionuri'], 'https://dev.azure.com/contoso/churn%20ml/_releaseProgress?releaseId=7');
    assert.equal(annotations['azure-pipelines/execution'], '7');
  });

  it('leaves out what the agent does not set, and no link without a run id', () => {
    assert.deepEqual(runAnnotationsFor({ project: 'p', runName: ' ' }), { 'azure-pipelines/project': 'p' });
    assert.deepEqual(runAnnotationsFor({}), {});
  });

  it('puts them on each object over the manifest\'s own, leaving the documents as they were', () => {
    const documents: KubeObject[] = [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', annotations: { keep: '1', 'azure-pipelines/execution': 'old' } } }, { apiVersion: 'v1', kind: 'Namespace' }];
    const stamped = withRunAnnotations(documents, { 'azure-pipelines/execution': 'new' });
    assert.deepEqual(stamped.map((document) => document.metadata?.annotations), [{ keep: '1', 'azure-pipelines/execution': 'new' }, { 'azure-pipelines/execution': 'new' }]);
    assert.equal(documents[0].metadata?.annotations?.['azure-pipelines/execution'], 'old');
    assert.equal(documents[1].metadata, undefined);
  });
});
