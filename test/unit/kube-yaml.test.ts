import { strict as assert } from 'node:assert';
import { KubeconfigError, parseKubeconfig } from '../../tasks/common/kube/kubeconfig';
import { parseManifests } from '../../tasks/common/kube/parse';
import type { InputError } from '../../tasks/common/pipeline/inputError';
import { KubeManifestError } from '../../tasks/common/kube/types';
import { MAX_YAML_NODES } from '../../tasks/common/kube/yamlDocuments';
import { reportedByDeploy } from '../support/deployFailures';

const SECRET = 'hunter2-s3cr3t-value';

/** Nine levels of ten aliases each: 10^9 strings once expanded, a few hundred bytes as written. */
function billionLaughs(head: string): string {
  const lines = [head, 'l0: &l0 "lol"'];
  for (let level = 1; level <= 9; level++) lines.push(`l${level}: &l${level} [${Array.from({ length: 10 }, () => `*l${level - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

/** The failure as Deploy reports it: setting 'manifests', named as the input of that name. */
function manifestError(text: string, source = 'deploy/app.yaml'): InputError {
  try {
    parseManifests([{ source, text }]);
  } catch (error) {
    assert.ok(error instanceof KubeManifestError, `expected a KubeManifestError, got ${String(error)}`);
    const reported = reportedByDeploy(error, { setting: 'manifests' });
    assert.equal(reported.input, 'manifests');
    assert.ok(!reported.message.includes(SECRET), `the text was quoted: ${reported.message}`);
    return reported;
  }
  return assert.fail('parsed');
}

describe('manifests: parsed, bounded and serialised before anything is applied', () => {
  it('a YAML syntax error gives reason, line and column, never the lines around it', () => {
    const error = manifestError(`apiVersion: v1\nkind: Secret\nstringData:\n  password: ${SECRET}\n   user: [admin\n`);
    assert.match(error.message, /^Input 'manifests': deploy\/app\.yaml is not valid YAML: .+ at line \d+, column \d+$/);
  });

  it('a JSON syntax error too', () => {
    const error = manifestError(`{"apiVersion": "v1", "kind": "Secret", "stringData": {"password": "${SECRET}",, }}`, 'secret.json');
    assert.match(error.message, /secret\.json is not valid YAML: .+ at line 1, column \d+$/);
  });

  it('js-yaml reasons that name an alias or tag from the text are cut', () => {
    assert.match(manifestError(`a: *${SECRET}\n`).message, /unidentified alias "…"/);
    assert.match(manifestError(`a: !<tag:${SECRET}> x\n`).message, /unknown tag !<…>/);
  });

  it('a "billion laughs" of aliases fails at the node cap, clearly', () => {
    // Without the cap the expansion builds 10^9 nodes (out of memory long before): reaching this
    // message is the proof that expansion stopped at MAX_YAML_NODES.
    const error = manifestError(billionLaughs('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: laughs}'));
    assert.match(error.message, new RegExp(`its aliases expand to more than ${MAX_YAML_NODES} nodes`));
  });

  it('an alias inside the node it names is refused (it would never serialise)', () => {
    assert.match(manifestError('apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: loop, labels: {self: *m}}\n').message, /an alias refers to a node that contains it/);
  });

  it('.inf and .nan, which JSON cannot carry, are refused instead of becoming null', () => {
    assert.match(manifestError('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\ndata: {ratio: .inf}\n').message, /\.inf or \.nan/);
  });

  it('reads as kubectl does: timestamps stay text, merge keys merge, and every alias becomes its own copy', () => {
    const text = [
      'apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: b', '  annotations: &common {team: ml}', '  labels:', '    <<: *common', '    tier: api',
      'data: {released: 2024-05-01, at: 2024-05-01T10:00:00Z}',
    ].join('\n');
    const [configMap] = parseManifests([{ source: 'm.yaml', text }]);
    assert.deepEqual(configMap.data, { released: '2024-05-01', at: '2024-05-01T10:00:00Z' });
    assert.deepEqual(configMap.metadata?.labels, { team: 'ml', tier: 'api' });

    const [first, second] = parseManifests([{ source: 'shared.yaml', text: 'apiVersion: v1\nkind: List\nitems:\n- &cm {apiVersion: v1, kind: ConfigMap, metadata: {name: same}}\n- *cm\n' }]);
    assert.deepEqual(first, second);
    assert.notEqual(first, second, 'an alias must not share its object with another document');
  });

  it('a scalar document is described by its type, not quoted', () => {
    assert.match(manifestError(`apiVersion: v1\nkind: Pod\n---\n${SECRET}\n`).message, /document 2 is not a Kubernetes object .*; it is a string\.$/);
  });
});

describe('kubeconfig YAML within bounds', () => {
  const problem = (text: string) => {
    try {
      parseKubeconfig(text);
    } catch (error) {
      assert.ok(error instanceof KubeconfigError, String(error));
      assert.ok(!error.reason.includes(SECRET));
      return error.reason;
    }
    return assert.fail('parsed');
  };

  it('refuses a billion laughs, a self-referring alias and deep nesting, each by reason', () => {
    assert.match(problem(billionLaughs('apiVersion: v1\nkind: Config')), /aliases expand to more than/);
    assert.match(problem('clusters: &c [{name: x, cluster: {extra: *c}}]\n'), /an alias refers to a node that contains it/);
    assert.match(problem(`token: ${SECRET}\n${'['.repeat(200)}${']'.repeat(200)}\n`), /nesting exceeded maxDepth \(100\) at line \d+/);
  });

  it('a syntax error names line and column, not the token beside it', () => {
    assert.match(problem(`users:\n- name: a\n  user:\n    token: ${SECRET}\n   oops: [\n`), /^it is not valid YAML \(.+ at line \d+, column \d+\)$/);
  });
});
