/**
 * The private path's report lines (kube/privateReport.ts) and the quoting of the script that prints
 * them (kube/privateCommand.ts): peer output is read only from lines with this run's marker, each
 * field decoded and checked, and every value the script carries reaches bash as one word.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { TaskError } from '../../tasks/common/errors';
import { privateDeployScript, shellQuote } from '../../tasks/common/kube/privateCommand';
import { readReport } from '../../tasks/common/kube/privateReport';
import { revisionNumber } from '../../tasks/common/kube/workloads/controllerRevision';

const marker = '@@amd-0123456789abcdef';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const failure = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('private path: the report lines of the run command', () => {
  it('reads objects, generations and pod answers from marked lines; everything else is what kubectl said', () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'ns', generation: 2 } };
    // A pod's answer may hold newlines and what looks like a report line: base64 keeps it one field.
    const answer = `{"model_digest":"sha256:x"}\n${marker} object ${b64('{"kind":"Forged"}')}`;
    const logs = [
      'deployment.apps/api serverside-applied',
      `${marker} before 0 1`,
      `${marker} object ${b64(JSON.stringify(deployment))}`,
      `${marker} revisions 1 ${b64(JSON.stringify({ kind: 'List', items: [{ metadata: { name: 'db-1' }, revision: 3 }] }))}`,
      `${marker} listed 0`,
      `${marker} pod 0 api-5c56fcccbd-72fks 0 ${b64(answer)}`,
      `${marker} pod 0 api-5c56fcccbd-dhbvf 1 ${b64('Error from server (ServiceUnavailable): no endpoints')}`,
      '@@amd-ffffffffffffffff object e30=',
      'deployment "api" successfully rolled out',
    ].join('\n');
    const report = readReport(logs, marker, 'aks-private');
    assert.deepEqual([...report.before], [[0, '1']]);
    assert.deepEqual(report.objects, [deployment]);
    assert.deepEqual([...report.listed], [0]);
    assert.deepEqual([...report.revisions], [[1, [{ metadata: { name: 'db-1' }, revision: 3 }]]]);
    assert.deepEqual(report.pods, [
      { probe: 0, pod: 'api-5c56fcccbd-72fks', exitCode: 0, text: answer },
      { probe: 0, pod: 'api-5c56fcccbd-dhbvf', exitCode: 1, text: 'Error from server (ServiceUnavailable): no endpoints' },
    ]);
    assert.equal(report.said, 'deployment.apps/api serverside-applied\n@@amd-ffffffffffffffff object e30=\ndeployment "api" successfully rolled out', 'another run\'s marker is only text');
  });

  for (const [what, line] of [
    ['a field that is not base64', `${marker} object {"kind":"Deployment"}`],
    ['an object that is not JSON', `${marker} object ${b64('not json')}`],
    ['an object without kind or name', `${marker} object ${b64('{"apiVersion":"v1"}')}`],
    ['a pod name that is not a DNS-1123 name', `${marker} pod 0 $(rm) 0 ${b64('{}')}`],
    ['a pod line without an exit code', `${marker} pod 0 api-1 x ${b64('{}')}`],
    ['an unknown record', `${marker} delete everything`],
    ['a revisions list without items', `${marker} revisions 0 ${b64('{"kind":"List"}')}`],
    ['an answer over the JSON body limit', `${marker} pod 0 api-1 0 ${'A'.repeat(1_500_000)}`],
  ] as const) {
    it(`refuses ${what}, naming the cluster`, () => {
      const error = failure(() => readReport(`ok\n${line}\n`, marker, 'aks-private'));
      assert.ok(error instanceof TaskError, String(error));
      assert.equal(error.key, 'AksPrivateReportInvalid');
      assert.equal(error.args[0], 'aks-private');
    });
  }

  it('refuses more report lines than it will hold', () => {
    const error = failure(() => readReport(Array.from({ length: 2001 }, () => `${marker} listed 0`).join('\n'), marker, 'aks-private'));
    assert.ok(error instanceof TaskError && error.key === 'AksPrivateReportInvalid', String(error));
  });
});

describe('a StatefulSet\'s or DaemonSet\'s revision number (kubectl rollout history)', () => {
  const owned = (name: string, revision: number, uid = 'u1') => ({ metadata: { name, ownerReferences: [{ uid, controller: true }] }, revision });
  const workload = (status?: object) => ({ metadata: { name: 'db', uid: 'u1', generation: 7 }, ...(status ? { status } : {}) }) as never;

  it('a StatefulSet: the ControllerRevision status.updateRevision names, not the newest nor the generation', () => {
    assert.equal(revisionNumber('StatefulSet', workload({ updateRevision: 'db-a' }), [owned('db-a', 2), owned('db-b', 5)]), 2);
  });
  it('a DaemonSet: the newest it controls; another owner\'s revisions do not count', () => {
    assert.equal(revisionNumber('DaemonSet', workload(), [owned('db-a', 2), owned('db-b', 5), owned('x-c', 9, 'u2')]), 5);
  });
  it('none of its own: undefined, so the caller reports the generation', () => {
    assert.equal(revisionNumber('DaemonSet', workload(), [owned('x-c', 9, 'u2')]), undefined);
  });
});

describe('private path: the script\'s quoting', () => {
  for (const value of ["/version?x='1'", '/v;$(touch /tmp/pwned)`id`', "it's \"quoted\" \\ and\nnewline"]) {
    it(`bash reads ${JSON.stringify(value)} as one unchanged word`, () => {
      assert.equal(execFileSync('bash', ['-c', `printf '%s' ${shellQuote(value)}`], { encoding: 'utf8' }), value);
    });
  }

  it('the model check path reaches kubectl get --raw quoted, whatever it holds', () => {
    const path = "/v';touch /tmp/x;'";
    const script = privateDeployScript({
      marker, workloads: [{ kind: 'Deployment', name: 'api', namespace: 'ns' }], services: [], timeoutSeconds: 60, loadBalancerSeconds: 60,
      modelCheck: { digest: 'sha256:x', path, field: 'model_digest' }, probes: [{ workload: 0, selector: 'app=api', image: 'reg/api:1', port: 8080 }],
    });
    assert.ok(script.includes(shellQuote(`:8080/proxy${path}`)), script);
    execFileSync('bash', ['-n', '-c', script]);
  });
});
