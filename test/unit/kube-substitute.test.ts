import { strict as assert } from 'node:assert';
import { parseManifests } from '../../tasks/common/kube/parse';
import { repositoryOf, substituteImage } from '../../tasks/common/kube/substitute';
import { KubeManifestError } from '../../tasks/common/kube/types';
import { reportedByDeploy } from '../support/deployFailures';

const digest = `sha256:${'cd'.repeat(32)}`;
const oldDigest = `sha256:${'01'.repeat(32)}`;
const newImage = `127.0.0.1:5000/team/churn-app@${digest}`;

const manifests = `
# leading comment document
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  template:
    metadata: { labels: { app: web } }
    spec:
      initContainers:
        - { name: migrate, image: "127.0.0.1:5000/team/churn-app:v1" }
      containers:
        - { name: app, image: "127.0.0.1:5000/team/churn-app:v1@${oldDigest}" }
        - { name: proxy, image: nginx:1.27 }
---
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: retrain }
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - { name: job, image: "127.0.0.1:5000/team/churn-app" }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: 80 }] }
`;

/** The value at a dotted path such as 'spec.template.spec.containers.0.image', for asserting on plain JSON. */
function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

function load(text = manifests) {
  return parseManifests([{ source: 'deploy/app.yaml', text }]);
}

describe('kube parseManifests', () => {
  it('skips empty documents and keeps the others in order', () => {
    assert.deepEqual(load().map((document) => document.kind), ['Deployment', 'CronJob', 'Service']);
  });

  it('reads several sources and flattens a List', () => {
    const list = 'apiVersion: v1\nkind: List\nitems:\n  - { apiVersion: v1, kind: ConfigMap, metadata: { name: a } }\n';
    const documents = parseManifests([{ source: 'a.yaml', text: list }, { source: 'b.yaml', text: 'apiVersion: v1\nkind: Secret\n' }]);
    assert.deepEqual(documents.map((document) => document.kind), ['ConfigMap', 'Secret']);
  });

  const bad: [string, string, RegExp][] = [
    ['invalid YAML', 'kind: [unclosed', /^Input 'manifests': deploy\/app\.yaml is not valid YAML: /],
    ['a document without kind', 'apiVersion: v1\nmetadata: { name: x }\n', /document 1 has no apiVersion or kind/],
    ['a scalar document', '---\nkind: Pod\napiVersion: v1\n---\njust text\n', /document 2 is not a Kubernetes object.*it is a string\.$/],
    ['a List without items', 'apiVersion: v1\nkind: List\n', /is a List without an items list/],
  ];
  for (const [what, text, message] of bad) {
    it(`rejects ${what}`, () => assert.throws(() => load(text), (error: unknown) => error instanceof KubeManifestError && message.test(reportedByDeploy(error, { setting: 'manifests' }).message)));
  }
});

describe('kube repositoryOf', () => {
  it('ignores tag and digest and keeps registry port', () => {
    assert.equal(repositoryOf(`127.0.0.1:5000/team/churn-app:v1@${oldDigest}`), '127.0.0.1:5000/team/churn-app');
  });
  it('expands Docker Hub short names', () => {
    assert.equal(repositoryOf('nginx'), repositoryOf('docker.io/library/nginx:1.27'));
    assert.notEqual(repositoryOf('nginx'), repositoryOf('docker.io/bitnami/nginx'));
  });
  it('gives undefined for text that is not a reference', () => assert.equal(repositoryOf('Not An Image'), undefined));
});

describe('kube substituteImage', () => {
  it('replaces every container of the same repository, init containers and CronJobs included', () => {
    const { documents, replacements } = substituteImage(load(), { image: newImage });
    assert.deepEqual(replacements.map((r) => `${r.kind}/${r.name}/${r.container}`), ['Deployment/web/migrate', 'Deployment/web/app', 'CronJob/retrain/job']);
    assert.equal(replacements[1].from, `127.0.0.1:5000/team/churn-app:v1@${oldDigest}`);
    assert.ok(replacements.every((r) => r.to === newImage));
    assert.equal(at(documents[0], 'spec.template.spec.initContainers.0.image'), newImage);
    assert.equal(at(documents[0], 'spec.template.spec.containers.0.image'), newImage);
    assert.equal(at(documents[0], 'spec.template.spec.containers.1.image'), 'nginx:1.27', 'other repositories stay');
    assert.equal(at(documents[1], 'spec.jobTemplate.spec.template.spec.containers.0.image'), newImage);
  });

  it('never changes the documents it is given', () => {
    const documents = load();
    const before = JSON.stringify(documents);
    substituteImage(documents, { image: newImage, annotations: { modelVersion: '7' } });
    assert.equal(JSON.stringify(documents), before);
  });

  it('replaces exactly the named containers, whatever their repository', () => {
    const { documents, replacements } = substituteImage(load(), { image: newImage, containers: ['proxy'] });
    assert.deepEqual(replacements.map((r) => r.container), ['proxy']);
    assert.equal(at(documents[0], 'spec.template.spec.containers.0.image'), `127.0.0.1:5000/team/churn-app:v1@${oldDigest}`);
    assert.equal(at(documents[0], 'spec.template.spec.containers.1.image'), newImage);
  });

  it('matches a Docker Hub short name against its long form', () => {
    const { replacements } = substituteImage(load(), { image: `docker.io/library/nginx@${digest}` });
    assert.deepEqual(replacements.map((r) => r.container), ['proxy']);
  });

  it('annotates only the pod templates it changed, keeping their annotations', () => {
    const text = `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: a }\nspec:\n  template:\n    metadata: { annotations: { keep: "yes" } }\n    spec: { containers: [{ name: app, image: "127.0.0.1:5000/team/churn-app:v1" }] }\n---\napiVersion: v1\nkind: Pod\nmetadata: { name: redis }\nspec: { containers: [{ name: redis, image: redis:7 }] }\n`;
    const { documents } = substituteImage(load(text), { image: newImage, annotations: { modelVersion: '7', commit: 'abc' } });
    assert.deepEqual(at(documents[0], 'spec.template.metadata.annotations'), { keep: 'yes', 'ai.model.version': '7' });
    assert.deepEqual(documents[0].metadata?.annotations, { 'ai.model.version': '7', 'org.opencontainers.image.revision': 'abc' });
    assert.equal(documents[1].metadata?.annotations, undefined);
  });

  it('annotates a bare Pod on its own metadata', () => {
    const text = `apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: app, image: "127.0.0.1:5000/team/churn-app" }] }\n`;
    const { documents } = substituteImage(load(text), { image: newImage, annotations: { modelDigest: digest } });
    assert.deepEqual(documents[0].metadata?.annotations, { 'ai.model.digest': digest });
  });

  it('fails listing every image seen when no repository matches', () => {
    assert.throws(() => substituteImage(load(), { image: 'myacr.azurecr.io/other:1' }), (error: unknown) => {
      const { message } = reportedByDeploy(error, { setting: 'manifests', key: 'ManifestNoMatchingContainer' });
      return /No container in the manifests uses repository 'myacr\.azurecr\.io\/other'/.test(message)
        && message.includes('127.0.0.1:5000/team/churn-app:v1 (Deployment/web, container migrate)')
        && message.includes('nginx:1.27 (Deployment/web, container proxy)')
        && message.includes('127.0.0.1:5000/team/churn-app (CronJob/retrain, container job)')
        && message.includes("(input 'manifests')");
    });
  });

  it('fails naming the missing containers when the containers input names unknown ones', () => {
    assert.throws(() => substituteImage(load(), { image: newImage, containers: ['app', 'sidecar'] }), (error: unknown) => {
      const reported = reportedByDeploy(error, { setting: 'containers', key: 'ManifestContainerNotFound' });
      return reported.input === 'containers' && /^Input 'containers' is 'app,sidecar'.*no container named 'sidecar'\. Containers seen: .*container proxy.*Fix 'containers'/.test(reported.message);
    });
  });

  it('says when the manifests hold no workloads at all', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n';
    assert.throws(() => substituteImage(load(text), { image: newImage }), (error: unknown) => /no workload with containers/.test(reportedByDeploy(error, { setting: 'manifests', key: 'ManifestNoWorkloads' }).message));
  });

  it('rejects an image that is not a reference', () => {
    assert.throws(() => substituteImage(load(), { image: 'Bad Image' }), (error: unknown) => /Input 'image' .*'Bad Image'/.test(reportedByDeploy(error, { setting: 'image', key: 'InputInvalid' }).message));
  });

  it('puts further images into the containers of their repositories, without the model annotations', () => {
    const nginx = `docker.io/library/nginx@${digest}`;
    const { documents, replacements } = substituteImage(load(), { image: newImage, annotations: { modelVersion: '7' }, images: [{ repository: 'nginx', reference: nginx }] });
    assert.deepEqual(replacements.map((r) => `${r.container}:${r.to}`), [`migrate:${newImage}`, `app:${newImage}`, `proxy:${nginx}`, `job:${newImage}`]);
    assert.equal(at(documents[0], 'spec.template.spec.containers.1.image'), nginx);
    const pod = `apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: web, image: "127.0.0.1:5000/team/churn-app" }] }\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: { name: cache }\nspec: { template: { spec: { containers: [{ name: redis, image: "redis:7" }] } } }\n`;
    const only = substituteImage(load(pod), { image: newImage, annotations: { modelVersion: '7' }, images: [{ repository: 'docker.io/library/redis', reference: `redis@${digest}` }] });
    assert.equal(at(only.documents[1], 'spec.template.spec.containers.0.image'), `redis@${digest}`);
    assert.equal(only.documents[1].metadata?.annotations, undefined, 'a further image is not the model\'s');
  });

  it('names the further images no container uses', () => {
    assert.throws(() => substituteImage(load(), { image: newImage, images: [{ repository: 'nginx', reference: `nginx@${digest}` }, { repository: 'myacr.azurecr.io/worker', reference: `myacr.azurecr.io/worker@${digest}` }] }), (error: unknown) => {
      const reported = reportedByDeploy(error, { setting: 'images', key: 'ManifestNoImagesMatch' });
      return reported.input === 'images' && /^Input 'images' names repository 'myacr\.azurecr\.io\/worker', but no container .*nginx:1\.27 \(Deployment\/web, container proxy\)/.test(reported.message);
    });
  });
});
