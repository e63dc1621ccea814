import { strict as assert } from 'node:assert';
import {
  type DeploymentLike, previousRevisionTemplate, type ReplicaSetLike, revisionOf, rolloutStatus, sameTemplateIgnoringHash,
} from '../../tasks/common/kube/rolloutStatus';

const uid = '9d0c2b7e-4c1a-4f5e-9a53-0c1f3f4e2a10';

/** Shaped like `kubectl get deployment web -o json`; `status` overrides the status fields. */
function deployment(status: NonNullable<DeploymentLike['status']>, generation = 4, replicas = 3): DeploymentLike {
  return {
    metadata: { name: 'web', namespace: 'prod', uid, generation, annotations: { 'deployment.kubernetes.io/revision': '3' } },
    spec: { replicas },
    status: {
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
        { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'ReplicaSet "web-6d4b75cb6d" is progressing.' },
      ],
      ...status,
    },
  };
}

const complete = { observedGeneration: 4, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 };

describe('kube rolloutStatus (kubectl DeploymentStatusViewer)', () => {
  it('waits while the controller has not observed the new generation', () => {
    assert.deepEqual(rolloutStatus(deployment({ ...complete, observedGeneration: 3 })), {
      done: false, failed: false, message: 'Waiting for deployment spec update to be observed...',
    });
  });

  it('does not report a timeout from an older generation before the new spec is observed', () => {
    const stale = deployment({ ...complete, observedGeneration: 3, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] });
    assert.equal(rolloutStatus(stale).failed, false);
  });

  it('fails on ProgressDeadlineExceeded', () => {
    const stuck = deployment({
      observedGeneration: 4, replicas: 4, updatedReplicas: 1, availableReplicas: 3,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-7f9c" has timed out progressing.' }],
    });
    assert.deepEqual(rolloutStatus(stuck), { done: false, failed: true, message: 'deployment "web" exceeded its progress deadline' });
  });

  it('waits for new replicas to be updated', () => {
    assert.equal(rolloutStatus(deployment({ ...complete, replicas: 4, updatedReplicas: 1 })).message,
      'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...');
  });

  it('waits for old replicas pending termination', () => {
    assert.equal(rolloutStatus(deployment({ ...complete, replicas: 4 })).message,
      'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...');
  });

  it('waits for updated replicas to become available', () => {
    const status = rolloutStatus(deployment({ ...complete, availableReplicas: 2 }));
    assert.deepEqual(status, { done: false, failed: false, message: 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...' });
  });

  it('is done when everything is updated and available', () => {
    const done = deployment({ ...complete, conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }] });
    assert.deepEqual(rolloutStatus(done), { done: true, failed: false, message: 'deployment "web" successfully rolled out' });
  });

  it('treats missing status fields as zero, as the Go structs do', () => {
    assert.equal(rolloutStatus({ metadata: { name: 'web', generation: 1 }, spec: { replicas: 1 } }).message,
      'Waiting for deployment spec update to be observed...');
    assert.equal(rolloutStatus({ metadata: { name: 'web', generation: 1 }, spec: { replicas: 1 }, status: { observedGeneration: 1 } }).message,
      'Waiting for deployment "web" rollout to finish: 0 out of 1 new replicas have been updated...');
  });

  it('is done at zero replicas', () => {
    assert.equal(rolloutStatus(deployment({ observedGeneration: 4 }, 4, 0)).done, true);
  });

  it('fails when pinned to a revision the deployment has moved past', () => {
    assert.deepEqual(rolloutStatus(deployment(complete), 2), {
      done: false, failed: true, message: 'desired revision (2) is different from the running revision (3)',
    });
    assert.equal(rolloutStatus(deployment(complete), 3).done, true);
  });
});

describe('kube revisionOf', () => {
  it('reads the revision annotation', () => assert.equal(revisionOf({ metadata: { annotations: { 'deployment.kubernetes.io/revision': '12' } } }), 12));
  it('is 0 without the annotation', () => assert.equal(revisionOf({ metadata: {} }), 0));
  it('is undefined for a value that is not a number', () => assert.equal(revisionOf({ metadata: { annotations: { 'deployment.kubernetes.io/revision': 'x1' } } }), undefined));
});

/** Shaped like an item of `kubectl get rs -l app.kubernetes.io/name=web -o json`. */
function replicaSet(name: string, revision: string | undefined, image: string, ownerUid = uid): ReplicaSetLike {
  const hash = name.slice(name.lastIndexOf('-') + 1);
  return {
    metadata: {
      name,
      annotations: revision === undefined ? {} : { 'deployment.kubernetes.io/revision': revision, 'deployment.kubernetes.io/desired-replicas': '3' },
      labels: { 'app.kubernetes.io/name': 'web', 'pod-template-hash': hash },
      ownerReferences: [{ kind: 'Deployment', name: 'web', uid: ownerUid, controller: true }],
    },
    spec: {
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'web', 'pod-template-hash': hash }, annotations: { 'ai.model.version': revision ?? '' } },
        spec: { containers: [{ name: 'web', image }] },
      },
    },
  };
}

describe('kube previousRevisionTemplate (kubectl rollout undo)', () => {
  const current = deployment(complete);
  const history = [
    replicaSet('web-5b8f9c7d4f', '1', 'acr.io/web:v1'),
    replicaSet('web-6d4b75cb6d', '3', 'acr.io/web:broken'),
    replicaSet('web-7c9d8e6f5a', '2', 'acr.io/web:v2'),
    replicaSet('other-8a7b6c5d4e', '9', 'acr.io/other:v9', 'another-uid'),
    replicaSet('web-9e8d7c6b5a', 'garbage', 'acr.io/web:unknown'),
  ];

  it('picks the highest revision below the newest among the ReplicaSets the deployment controls', () => {
    const target = previousRevisionTemplate(current, history);
    assert.equal(target?.revision, 2);
    assert.equal(target?.replicaSetName, 'web-7c9d8e6f5a');
    assert.deepEqual(target?.template.spec?.containers, [{ name: 'web', image: 'acr.io/web:v2' }]);
  });

  it('removes the pod-template-hash label without touching the ReplicaSet', () => {
    const target = previousRevisionTemplate(current, history);
    assert.deepEqual(target?.template.metadata?.labels, { 'app.kubernetes.io/name': 'web' });
    assert.equal(history[2].spec?.template?.metadata?.labels?.['pod-template-hash'], '7c9d8e6f5a');
  });

  it('ignores ReplicaSets owned by something else, and order does not matter', () => {
    assert.equal(previousRevisionTemplate(current, [...history].reverse())?.revision, 2);
    const notControlled = history.map((rs) => ({ ...rs, metadata: { ...rs.metadata, ownerReferences: [{ uid, controller: false }] } }));
    assert.equal(previousRevisionTemplate(current, notControlled), undefined);
  });

  it('has nothing to go back to with a single revision', () => {
    assert.equal(previousRevisionTemplate(current, [history[1]]), undefined);
    assert.equal(previousRevisionTemplate(current, []), undefined);
  });

  it('compares templates ignoring the hash label, as kubectl does before undoing', () => {
    const rs = history[2].spec!.template!;
    assert.equal(sameTemplateIgnoringHash(rs, previousRevisionTemplate(current, history)!.template), true);
    assert.equal(sameTemplateIgnoringHash(rs, history[0].spec!.template!), false);
  });
});
