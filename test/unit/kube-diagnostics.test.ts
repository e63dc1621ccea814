/**
 * The pure parts of rollout diagnostics and rollback: the failure block built from pod, ReplicaSet and
 * event JSON shaped as `kubectl get -o json` prints them, label selectors, and kubectl's undo patch.
 */
import { strict as assert } from 'node:assert';
import { type EventLike, type PodLike, type RolloutFacts, formatRolloutDiagnostics } from '../../tasks/common/kube/diagnostics';
import { labelSelectorQuery } from '../../tasks/common/kube/ownership';
import { rollbackAnnotations, rollbackPatch } from '../../tasks/common/kube/rollback';

const SECRET = 'super-secret-value-123';
const DEPLOYMENT_UID = '5b8e1c1e-0000-4000-8000-000000000001';
const RS_UID = '5b8e1c1e-0000-4000-8000-000000000002';

/** As `kubectl get pod -o json` prints a pod of a Deployment's ReplicaSet (fields trimmed). */
function pod(name: string, uid: string, containerStatus: Record<string, unknown>, phase = 'Pending'): PodLike {
  const json = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, uid, namespace: 'prod', labels: { app: 'scorer', 'pod-template-hash': '7d698dd78f' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'scorer-7d698dd78f', uid: RS_UID, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: [{ name: 'app', image: 'contoso.azurecr.io/scorer@sha256:abc', env: [{ name: 'API_KEY', value: SECRET }] }],
    },
    status: {
      phase,
      conditions: [{ type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' }],
      hostIP: '10.224.0.4', podIP: '10.244.1.17', qosClass: 'BestEffort', startTime: '2024-05-02T10:00:01Z',
      containerStatuses: [{ name: 'app', image: 'contoso.azurecr.io/scorer@sha256:abc', imageID: '', ready: false, restartCount: 0, started: false, ...containerStatus }],
    },
  };
  return json as unknown as PodLike;
}

const pullBackOff = { state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "contoso.azurecr.io/scorer@sha256:abc"' } }, lastState: {} };

function event(involved: { kind: string; name: string; uid: string }, type: string, reason: string, message: string, count = 1): EventLike {
  return {
    metadata: { name: `${involved.name}.17cb1f4a2b3c4d5e`, namespace: 'prod' },
    involvedObject: { ...involved, namespace: 'prod', apiVersion: 'v1', fieldPath: 'spec.containers{app}' },
    reason, message, type, count,
    source: { component: 'kubelet', host: 'aks-nodepool1-12345678-vmss000000' },
    firstTimestamp: '2024-05-02T10:00:02Z', lastTimestamp: '2024-05-02T10:01:40Z', reportingComponent: 'kubelet',
  } as EventLike;
}

function facts(pods: PodLike[], events: EventLike[]): RolloutFacts {
  return {
    deployment: {
      metadata: { name: 'scorer', namespace: 'prod', uid: DEPLOYMENT_UID, generation: 2, annotations: { 'deployment.kubernetes.io/revision': '2' } },
      spec: { replicas: 3 },
      status: {
        observedGeneration: 2, replicas: 4, updatedReplicas: 1, availableReplicas: 3,
        conditions: [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
          { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "scorer-7d698dd78f" has timed out progressing.' },
        ],
      },
    },
    replicaSet: {
      metadata: { name: 'scorer-7d698dd78f', uid: RS_UID, annotations: { 'deployment.kubernetes.io/revision': '2' } },
      spec: { replicas: 2 } as never,
      status: { replicas: 2, readyReplicas: 0 },
    },
    pods, events,
  };
}

/** The block as the log shows it: one line per entry. */
const diagnosticsText = (...args: Parameters<typeof formatRolloutDiagnostics>): string => String(formatRolloutDiagnostics(...args));

describe('formatRolloutDiagnostics', () => {
  it('says which condition failed, how many pods are ready, why each container waits, and the warnings', () => {
    const a = pod('scorer-7d698dd78f-abcde', 'pod-a', pullBackOff);
    const text = diagnosticsText(facts([a], [
      event({ kind: 'Pod', name: 'scorer-7d698dd78f-abcde', uid: 'pod-a' }, 'Normal', 'Pulling', 'Pulling image "contoso.azurecr.io/scorer@sha256:abc"', 4),
      event({ kind: 'Pod', name: 'scorer-7d698dd78f-abcde', uid: 'pod-a' }, 'Warning', 'Failed', 'Error: ImagePullBackOff', 6),
    ]));
    assert.deepEqual(text.split('\n'), [
      'Deployment scorer: Progressing is False (ProgressDeadlineExceeded): ReplicaSet "scorer-7d698dd78f" has timed out progressing.',
      'ReplicaSet scorer-7d698dd78f (revision 2): 0 of 2 pods ready',
      'Pod scorer-7d698dd78f-abcde: Pending, 0/1 containers ready',
      '  container app (image contoso.azurecr.io/scorer@sha256:abc): waiting, ImagePullBackOff: Back-off pulling image "contoso.azurecr.io/scorer@sha256:abc"; 0 restarts',
      'Warning Failed on pod/scorer-7d698dd78f-abcde (6x): Error: ImagePullBackOff',
    ]);
  });

  it('groups pods in the same state and merges the same warning across pods, summing counts', () => {
    const pods = ['aaaaa', 'bbbbb', 'ccccc'].map((s) => pod(`scorer-7d698dd78f-${s}`, `pod-${s}`, pullBackOff));
    const events = pods.map((p) => event({ kind: 'Pod', name: p.metadata?.name ?? '', uid: p.metadata?.uid ?? '' }, 'Warning', 'Failed', 'Error: ImagePullBackOff', 2));
    const text = diagnosticsText(facts(pods, events));
    assert.match(text, /^Pod scorer-7d698dd78f-aaaaa \(and 2 more alike\): Pending, 0\/1 containers ready$/m);
    assert.equal(text.match(/^Pod /gm)?.length, 1);
    assert.match(text, /^Warning Failed on pod\/scorer-7d698dd78f-aaaaa, pod\/scorer-7d698dd78f-bbbbb, … \(6x\): Error: ImagePullBackOff$/m);
  });

  it('describes a crash loop with its exit code when the container is between restarts', () => {
    const running = pod('scorer-7d698dd78f-fffff', 'pod-f', {
      state: { running: { startedAt: '2024-05-02T10:01:39Z' } }, started: true, restartCount: 4,
      lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: '2024-05-02T10:01:00Z', finishedAt: '2024-05-02T10:01:30Z', containerID: 'containerd://0f' } },
    }, 'Running');
    const waiting = pod('scorer-7d698dd78f-ggggg', 'pod-g', {
      state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=app pod=scorer-7d698dd78f-ggggg_prod(pod-g)' } }, restartCount: 3,
      lastState: { terminated: { exitCode: 1, reason: 'Error' } },
    }, 'Running');
    const text = diagnosticsText(facts([running, waiting], [
      event({ kind: 'Pod', name: 'scorer-7d698dd78f-ggggg', uid: 'pod-g' }, 'Warning', 'BackOff', 'Back-off restarting failed container app in pod scorer-7d698dd78f-ggggg_prod(pod-g)', 9),
    ]));
    assert.match(text, /^ {2}container app \(image \S+\): last terminated with exit code 137 \(OOMKilled\); 4 restarts$/m);
    assert.match(text, /^ {2}container app \(image \S+\): waiting, CrashLoopBackOff: back-off 40s restarting failed container=app pod=\S+; 3 restarts$/m);
    assert.match(text, /^Warning BackOff on pod\/scorer-7d698dd78f-ggggg \(9x\): Back-off restarting/m);
  });

  it('leaves out events of older objects that had the same name, and never prints env values', () => {
    const a = pod('scorer-7d698dd78f-abcde', 'pod-a', pullBackOff);
    const text = diagnosticsText(facts([a], [
      event({ kind: 'Pod', name: 'scorer-7d698dd78f-abcde', uid: 'an-older-pod' }, 'Warning', 'FailedMount', 'MountVolume.SetUp failed'),
      event({ kind: 'ReplicaSet', name: 'scorer-7d698dd78f', uid: RS_UID }, 'Warning', 'FailedCreate', 'Error creating: pods "scorer-7d698dd78f-" is forbidden: exceeded quota: compute'),
    ]));
    assert.doesNotMatch(text, /FailedMount/);
    assert.match(text, /^Warning FailedCreate on replicaset\/scorer-7d698dd78f \(1x\): Error creating: .*exceeded quota: compute$/m);
    assert.ok(!text.includes(SECRET));
    assert.ok(!text.includes('API_KEY'));
  });

  it('caps the block, saying how much it left out, and clips long messages to one line', () => {
    const pods = Array.from({ length: 12 }, (_, i) => pod(`scorer-7d698dd78f-p${String(i).padStart(4, '0')}`, `pod-${i}`, {
      state: { waiting: { reason: `Reason${i}`, message: `line one\nline two ${'x'.repeat(400)}` } },
    }));
    const events = pods.map((p, i) => event({ kind: 'Pod', name: p.metadata?.name ?? '', uid: p.metadata?.uid ?? '' }, 'Warning', `Failed${i}`, `message ${i}`));
    const text = diagnosticsText(facts(pods, events));
    const lines = text.split('\n');
    assert.ok(lines.length <= 20, text);
    assert.equal(lines.filter((line) => line.startsWith('Pod ')).length, 4, 'four pod states shown');
    assert.match(text, /^\.\.\. and 8 more pods in other states$/m);
    assert.equal(lines.filter((line) => line.startsWith('Warning ')).length, 8, 'the newest warnings still fit');
    assert.match(text, /Warning Failed11 on pod\/scorer-7d698dd78f-p0011 \(1x\): message 11$/);
    assert.ok(lines.every((line) => line.length < 360), 'every line is clipped');
    assert.equal(diagnosticsText(facts(pods, events), 6).split('\n').length, 6);
    assert.match(diagnosticsText(facts(pods, events), 6), /\n\.\.\. \d+ more lines left out$/);
    assert.match(text, /waiting, Reason0: line one line two x+…/);
  });

  it('writes a waiting reason without a message on its own', () => {
    const creating = pod('scorer-7d698dd78f-hhhhh', 'pod-h', { state: { waiting: { reason: 'ContainerCreating' } } });
    assert.match(diagnosticsText(facts([creating], [])), /^ {2}container app \(image \S+\): waiting, ContainerCreating; 0 restarts$/m);
  });

  it('says so when the deployment has no ReplicaSet yet', () => {
    const text = diagnosticsText({ ...facts([], []), replicaSet: undefined });
    assert.match(text, /^Deployment scorer has no ReplicaSet yet/m);
  });
});

describe('labelSelectorQuery', () => {
  it('writes matchLabels and matchExpressions as the API server parses them', () => {
    assert.equal(labelSelectorQuery({ matchLabels: { app: 'scorer', tier: 'web' } }), 'app=scorer,tier=web');
    assert.equal(labelSelectorQuery({
      matchLabels: { app: 'scorer' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] }, { key: 'canary', operator: 'NotIn', values: ['true'] },
        { key: 'team', operator: 'Exists' }, { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }), 'app=scorer,env in (prod,staging),canary notin (true),team,!legacy');
    assert.equal(labelSelectorQuery(undefined), '');
  });
});

describe('rollback patch (kubectl rollout undo)', () => {
  it('keeps the deployment\'s own revision bookkeeping and takes every other annotation from the ReplicaSet', () => {
    const deployment = {
      'deployment.kubernetes.io/revision': '2', 'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'ai.model-delivery/model-version': '8', 'team': 'ml',
    };
    const replicaSet = {
      'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4',
      'deployment.kubernetes.io/revision-history': '0', 'ai.model-delivery/model-version': '7',
    };
    assert.deepEqual(rollbackAnnotations(deployment, replicaSet), {
      'deployment.kubernetes.io/revision': '2', 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'ai.model-delivery/model-version': '7',
    });
  });

  it('replaces the template and the annotations, adding the annotations when the deployment has none', () => {
    const template = { metadata: { labels: { app: 'scorer' } }, spec: { containers: [{ name: 'app', image: 'contoso.azurecr.io/scorer:7' }] } };
    assert.deepEqual(rollbackPatch(template, { a: 'b' }, true), [
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'replace', path: '/metadata/annotations', value: { a: 'b' } },
    ]);
    assert.equal((rollbackPatch(template, {}, false)[1] as { op: string }).op, 'add');
  });
});
