import { strict as assert } from 'node:assert';
import { TaskError } from '../../tasks/common/errors';
import type { KubeObject } from '../../tasks/common/kube/types';
import { workloadList } from '../../tasks/common/kube/workloads/workloadList';

function workload(kind: string, name: string, image: string, extra: { namespace?: string; updateStrategy?: string; apiVersion?: string } = {}): KubeObject {
  return {
    apiVersion: extra.apiVersion ?? 'apps/v1', kind, metadata: { name, ...(extra.namespace ? { namespace: extra.namespace } : {}) },
    spec: {
      ...(extra.updateStrategy ? { updateStrategy: { type: extra.updateStrategy } } : {}),
      selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

const config: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' } };
const service: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api' } };
const options = { namespace: 'prod', image: 'registry.example/api:2' };

function refusal(documents: KubeObject[]): TaskError {
  try {
    workloadList(documents, options);
  } catch (error) {
    assert.ok(error instanceof TaskError, String(error));
    return error;
  }
  assert.fail('the list was accepted');
}

describe('kube workload list (both deploy paths)', () => {
  it('a good list: the workloads\' indexes in the manifests\' order, the primary the one running the image', () => {
    const documents = [config, workload('StatefulSet', 'db', 'registry.example/db:1', { updateStrategy: 'RollingUpdate' }), service, workload('Deployment', 'api', options.image), workload('DaemonSet', 'agent', 'registry.example/agent:1')];
    assert.deepEqual(workloadList(documents, options), { indexes: [1, 3, 4], primary: 1 });
  });

  it('no workload runs the image: the first is the primary', () => {
    const documents = [service, workload('Deployment', 'web', 'registry.example/web:1'), workload('Deployment', 'worker', 'registry.example/worker:1')];
    assert.deepEqual(workloadList(documents, options), { indexes: [1, 2], primary: 0 });
  });

  it('the same name in another namespace or of another kind is another workload', () => {
    const documents = [workload('Deployment', 'api', options.image), workload('Deployment', 'api', options.image, { namespace: 'staging' }), workload('StatefulSet', 'api', 'registry.example/db:1')];
    assert.deepEqual(workloadList(documents, options).indexes, [0, 1, 2]);
  });

  it('no workload: DeployNoDeployment, naming what the manifests hold; a Deployment outside apps/ is none', () => {
    let error = refusal([config, service]);
    assert.equal(error.key, 'DeployNoDeployment');
    assert.match(error.message, /no Deployment, StatefulSet or DaemonSet \(they hold ConfigMap 'settings', Service 'api'\)/);
    error = refusal([workload('Deployment', 'old', options.image, { apiVersion: 'extensions/v1beta1' })]);
    assert.equal(error.key, 'DeployNoDeployment');
    assert.equal(refusal([]).args[0], 'nothing');
  });

  it('a StatefulSet or DaemonSet whose update strategy is not RollingUpdate: DeployStatefulSetOnDelete, its rollout would never progress', () => {
    for (const kind of ['StatefulSet', 'DaemonSet']) {
      const error = refusal([workload('Deployment', 'api', options.image), workload(kind, 'manual', 'registry.example/db:1', { updateStrategy: 'OnDelete' })]);
      assert.equal(error.key, 'DeployStatefulSetOnDelete');
      assert.match(error.message, new RegExp(`${kind} 'manual' uses the OnDelete update strategy`));
    }
  });

  it('the same workload twice: DeployDeploymentTwice, also when one names the default namespace and the other none', () => {
    let error = refusal([workload('Deployment', 'api', options.image), config, workload('Deployment', 'api', options.image)]);
    assert.equal(error.key, 'DeployDeploymentTwice');
    assert.match(error.message, /workload 'api' is given twice in the same namespace/);
    error = refusal([workload('StatefulSet', 'db', 'registry.example/db:1'), workload('StatefulSet', 'db', 'registry.example/db:1', { namespace: 'prod' })]);
    assert.equal(error.key, 'DeployDeploymentTwice');
  });
});
