import { strict as assert } from 'node:assert';
import { type AppSpec, DNS_LABEL_ANNOTATION, appSpecProblem, generateManifests } from '../../tasks/common/kube/generate';
import { reportedByDeploy } from '../support/deployFailures';

const digest = `sha256:${'ab'.repeat(32)}`;
const spec: AppSpec = Object.freeze({
  appName: 'churn-app',
  namespace: 'prod',
  image: `myacr.azurecr.io/churn-app@${digest}`,
  replicas: 2,
  containerPort: 5000,
  servicePort: 80,
  serviceType: 'LoadBalancer',
  dnsLabel: 'churn-demo',
  readinessPath: '/healthz',
  env: Object.freeze({ MODEL_DIR: '/model', A_FIRST: '1' }),
  imagePullSecret: 'acr-pull',
  annotations: Object.freeze({ modelVersion: '7', modelDigest: digest, pipelineRun: 'https://dev.azure.com/o/p/_build/results?buildId=42', commit: 'abc123' }),
});

/** The value at a dotted path such as 'spec.template.spec.containers.0.image', for asserting on plain JSON. */
function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

describe('kube generateManifests', () => {
  const { deployment, service } = generateManifests(spec);
  const container = at(deployment, 'spec.template.spec.containers.0');

  it('builds an apps/v1 Deployment whose selector matches its template labels', () => {
    assert.equal(at(deployment, 'apiVersion'), 'apps/v1');
    assert.equal(at(deployment, 'kind'), 'Deployment');
    assert.deepEqual(at(deployment, 'metadata.name'), 'churn-app');
    assert.deepEqual(at(deployment, 'metadata.namespace'), 'prod');
    assert.deepEqual(at(deployment, 'spec.selector.matchLabels'), { 'app.kubernetes.io/name': 'churn-app' });
    assert.deepEqual(at(deployment, 'spec.template.metadata.labels'), at(deployment, 'spec.selector.matchLabels'));
    assert.equal(at(deployment, 'spec.replicas'), 2);
  });

  it('rolls out without taking old pods away first', () => {
    assert.deepEqual(at(deployment, 'spec.strategy'), { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } });
    assert.equal(at(deployment, 'spec.progressDeadlineSeconds'), 300);
    assert.ok(Number(at(deployment, 'spec.revisionHistoryLimit')) >= 1, 'history is needed to roll back');
  });

  it('probes readiness over HTTP on the container port and sets requests and limits', () => {
    assert.equal(at(container, 'image'), spec.image);
    assert.deepEqual(at(container, 'readinessProbe.httpGet'), { path: '/healthz', port: 5000, scheme: 'HTTP' });
    assert.deepEqual(at(container, 'ports'), [{ name: 'http', containerPort: 5000, protocol: 'TCP' }]);
    assert.deepEqual(at(container, 'resources.requests'), { cpu: '100m', memory: '256Mi' });
    assert.ok(at(container, 'resources.limits.memory'), 'a memory limit is set');
  });

  it('writes env sorted by name and references the pull secret', () => {
    assert.deepEqual(at(container, 'env'), [{ name: 'A_FIRST', value: '1' }, { name: 'MODEL_DIR', value: '/model' }]);
    assert.deepEqual(at(deployment, 'spec.template.spec.imagePullSecrets'), [{ name: 'acr-pull' }]);
  });

  it('annotates the pod template with the model only, under the keys Bake uses as image labels', () => {
    assert.deepEqual(at(deployment, 'spec.template.metadata.annotations'), { 'ai.model.version': '7', 'ai.model.digest': digest });
  });

  it('puts the pipeline run and commit on the Deployment, where a new run does not restart pods', () => {
    assert.deepEqual(at(deployment, 'metadata.annotations'), {
      'ai.model.version': '7',
      'ai.model.digest': digest,
      'dev.azure.pipelines.run': 'https://dev.azure.com/o/p/_build/results?buildId=42',
      'org.opencontainers.image.revision': 'abc123',
    });
  });

  it('leaves out annotations, env and pull secret that are not given', () => {
    const { deployment: bare } = generateManifests({ ...spec, env: {}, imagePullSecret: undefined, annotations: { modelVersion: '3' } });
    assert.deepEqual(at(bare, 'spec.template.metadata.annotations'), { 'ai.model.version': '3' });
    assert.equal(at(bare, 'spec.template.spec.containers.0.env'), undefined);
    assert.equal(at(bare, 'spec.template.spec.imagePullSecrets'), undefined);
  });

  it('builds a Service that sends the service port to the container port, with the DNS label', () => {
    assert.equal(at(service, 'apiVersion'), 'v1');
    assert.equal(at(service, 'kind'), 'Service');
    assert.equal(at(service, 'spec.type'), 'LoadBalancer');
    assert.deepEqual(at(service, 'spec.selector'), { 'app.kubernetes.io/name': 'churn-app' });
    assert.deepEqual(at(service, 'spec.ports'), [{ name: 'http', port: 80, targetPort: 5000, protocol: 'TCP' }]);
    assert.deepEqual(at(service, 'metadata.annotations'), { [DNS_LABEL_ANNOTATION]: 'churn-demo' });
  });

  it('has no DNS annotation without a DNS label', () => {
    const { service: plain } = generateManifests({ ...spec, dnsLabel: undefined, serviceType: 'ClusterIP' });
    assert.equal(at(plain, 'metadata.annotations'), undefined);
    assert.equal(at(plain, 'spec.type'), 'ClusterIP');
  });

  it('does not modify the spec and gives equal output for equal input', () => {
    const before = JSON.stringify(spec);
    const again = generateManifests(spec);
    assert.equal(JSON.stringify(spec), before);
    assert.deepEqual(again, { deployment, service });
  });

  const bad: [string, Partial<AppSpec>, string, RegExp][] = [
    ['an upper-case app name', { appName: 'Churn' }, 'appName', /Input 'appName' is 'Churn': use a DNS-1123 label/],
    ['an app name of 64 characters', { appName: 'a'.repeat(64) }, 'appName', /1 to 63 lower-case/],
    ['an app name ending in a dash', { appName: 'app-' }, 'appName', /DNS-1123 label/],
    ['an invalid namespace', { namespace: 'Team_A' }, 'namespace', /Input 'namespace' is 'Team_A'/],
    ['negative replicas', { replicas: -1 }, 'replicas', /Input 'replicas' is -1, which is out of range\. Use a whole number from 0 to 1000/],
    ['fractional replicas', { replicas: 1.5 }, 'replicas', /not a whole number/],
    ['a port out of range', { containerPort: 70000 }, 'containerPort', /from 1 to 65535/],
    ['a zero service port', { servicePort: 0 }, 'servicePort', /out of range/],
    ['an unknown service type', { serviceType: 'Ingress' as never }, 'serviceType', /Use one of: LoadBalancer, ClusterIP, NodePort/],
    ['a DNS label with capitals', { dnsLabel: 'Churn' }, 'dnsLabel', /cloudapp\.azure\.com/],
    ['a DNS label on a ClusterIP service', { serviceType: 'ClusterIP' }, 'dnsLabel', /needs serviceType LoadBalancer/],
    ['a readiness path without a slash', { readinessPath: 'healthz' }, 'readinessPath', /starts with '\/'/],
    ['an env name with a space', { env: { 'BAD NAME': 'x' } }, 'env', /'BAD NAME'.*KEY=VALUE/],
    ['an invalid image', { image: 'myacr.azurecr.io/Churn:1' }, 'image', /'Churn' is not valid/],
  ];
  for (const [what, change, input, message] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(() => generateManifests({ ...spec, ...change }), (error: unknown) => {
        const reported = reportedByDeploy(error, { setting: input });
        return reported.input === input && message.test(reported.message);
      });
      // The same check, pure, is what the task's input reader reports.
      assert.equal(appSpecProblem({ ...spec, ...change })?.setting, input);
    });
  }
});
