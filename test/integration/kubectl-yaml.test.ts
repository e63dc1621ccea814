/**
 * Manifests read as kubectl reads them: every plain scalar where YAML 1.1 (kubectl's go-yaml v2)
 * and YAML 1.2 (js-yaml's default) differ, and the ones around them, parsed by parseManifests and
 * by the real kubectl, offline (`kubectl label --local -o json` runs kubectl's own manifest reader
 * and needs no API server), and compared value by value.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { parseManifests } from '../../tasks/common/kube/parse';
import { resolvePlain } from '../../tasks/common/kube/kubectlScalars';
import { KubeManifestError } from '../../tasks/common/kube/types';

/** Each row: a plain scalar, and what YAML 1.2 (js-yaml's default schema) makes of it, for contrast. */
const ROWS: readonly (readonly [string, unknown])[] = [
  ['0644', 644], ['0440', 440], ['0400', 400], ['0777', 777], ['00', 0], ['0', 0], ['-0644', -644], ['+0644', 644],
  ['08', 8], ['09.5', 9.5], ['0o644', 420], ['0O644', '0O644'], ['0x1F', 31], ['0X1F', '0X1F'], ['-0x1f', -31], ['+0x1F', 31],
  ['0b101', 5], ['-0b101', -5], ['0B101', '0B101'], ['1_000', '1_000'], ['0x_ff', '0x_ff'], ['685_230.15', '685_230.15'], ['190:20:30', '190:20:30'],
  ['y', 'y'], ['Y', 'Y'], ['yes', 'yes'], ['Yes', 'Yes'], ['YES', 'YES'], ['n', 'n'], ['N', 'N'], ['no', 'no'], ['No', 'No'], ['NO', 'NO'],
  ['on', 'on'], ['On', 'On'], ['ON', 'ON'], ['off', 'off'], ['Off', 'Off'], ['OFF', 'OFF'], ['true', true], ['False', false], ['tRUE', 'tRUE'], ['yEs', 'yEs'],
  ['~', null], ['null', null], ['Null', null], ['nUll', 'nUll'],
  ['2001-12-14', new Date('2001-12-14')], ['2001-12-14t21:59:43.10-05:00', new Date('2001-12-15T02:59:43.100Z')], ['2001-12-14 21:59:43.10 -5', new Date('2001-12-15T02:59:43.100Z')],
  ['1e3', 1000], ['1E3', 1000], ['12e03', 12000], ['0.5e+3', 500], ['1.', 1], ['.5', 0.5], ['.5e2', 50], ['-.5', '-.5'], ['+.5', '+.5'], ['-1.5e-3', -0.0015],
  ['1.5.2', '1.5.2'], ['1e', '1e'], ['.', '.'], ['+', '+'], ['-x', '-x'], ['0x', '0x'], ['1-2', '1-2'], ['=', '='], ['<<x', '<<x'],
  ['9223372036854775807', 9223372036854775807], ['0777777777777777777777777', 777777777777777800000000], ['18446744073709551616', 18446744073709552000],
  ['v1.2.3', 'v1.2.3'], ['1.20', 1.2], ['3.10', 3.1], ['010', 10], ['0.0.0.0', '0.0.0.0'], ['20:20', '20:20'],
];

/** Rows whose kubectl value a JavaScript number cannot hold exactly: refused by parseManifests instead. */
const UNSAFE = new Set(['9223372036854775807']);

function manifest(rows: readonly (readonly [string, unknown])[]): string {
  const data = rows.map(([scalar], index) => `  k${index}: ${scalar}`).join('\n');
  // kubectl refuses a null key, and a key read as the same text as another (yes and on are both
  // "true") is a duplicate, which we refuse on purpose (kubectl keeps the last): one key per reading.
  // A float key is left out: kubectl spells it as a float32 (685230.15 becomes "685230.1"), a
  // difference kept on purpose, since no Kubernetes field has number keys.
  const seen = new Set<string>();
  const keys = rows.filter(([scalar]) => {
    const key = resolvePlain(scalar);
    const text = String(key.value);
    if (key.tag === 'null' || key.tag === 'float' || scalar === '<<x' || seen.has(text)) return false;
    seen.add(text);
    return true;
  }).map(([scalar], index) => `  ${scalar}: ${index}`);
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scalars\ndata:\n${data}\nbinaryData:\n${keys.join('\n')}\n`;
}

function kubectlReads(text: string): Record<string, unknown> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-yaml-'));
  try {
    fs.writeFileSync(path.join(folder, 'manifest.yaml'), text);
    fs.writeFileSync(path.join(folder, 'kubeconfig'), '');
    const json = execFileSync('kubectl', ['label', '--local', '-o', 'json', '-f', path.join(folder, 'manifest.yaml'), 'probe=1'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: folder, KUBECONFIG: path.join(folder, 'kubeconfig') },
    });
    return JSON.parse(json) as Record<string, unknown>;
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

describe('manifests read as kubectl reads them (YAML 1.1 scalars, against the real kubectl)', () => {
  const rows = ROWS.filter(([scalar]) => !UNSAFE.has(scalar));
  const text = manifest(rows);
  let kubectl: { data: Record<string, unknown>; binaryData: Record<string, unknown> };
  let ours: { data: Record<string, unknown>; binaryData: Record<string, unknown> };

  before(() => {
    kubectl = kubectlReads(text) as typeof kubectl;
    ours = parseManifests([{ source: 'scalars.yaml', text }])[0] as unknown as typeof ours;
  });

  it('reads every value as kubectl does, row by row', () => {
    const differ = rows.flatMap(([scalar], index) => {
      const expected = kubectl.data[`k${index}`];
      return Object.is(ours.data[`k${index}`], expected) ? [] : [`${scalar}: kubectl ${JSON.stringify(expected)}, ours ${JSON.stringify(ours.data[`k${index}`])}`];
    });
    assert.deepEqual(differ, []);
    assert.equal(Object.keys(ours.data).length, rows.length);
  });

  it('reads every key as kubectl does (y is "true", 0644 is "420")', () => {
    assert.deepEqual(ours.binaryData, kubectl.binaryData);
    assert.equal(kubectl.binaryData['420'] !== undefined && kubectl.binaryData.true !== undefined, true, 'the table holds octal and boolean keys');
  });

  it('documents what YAML 1.2 makes of each row, and where it differs from kubectl', () => {
    // The second column is js-yaml's default (YAML 1.2) reading, checked here, so the table shows
    // both readings; the neighbours where they agree must not move, and both kinds must be present.
    for (const [scalar, yaml12] of rows) assert.deepEqual(yaml.load(`v: ${scalar}`), { v: yaml12 }, scalar);
    const changed = rows.filter(([, yaml12], index) => JSON.stringify(yaml12) !== JSON.stringify(kubectl.data[`k${index}`]));
    assert.ok(changed.length >= 30, `${changed.length} rows differ between YAML 1.1 and 1.2`);
    assert.ok(rows.length - changed.length >= 20, `${rows.length - changed.length} rows agree`);
  });

  it('sends defaultMode 0440 as 288 (r--r-----), as kubectl does', () => {
    const pod = `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i}]\n  volumes:\n  - name: config\n    configMap: {name: app, defaultMode: 0440, items: [{key: a, path: a, mode: 0400}]}\n`;
    const [object] = parseManifests([{ source: 'pod.yaml', text: pod }]);
    const volume = (object as unknown as { spec: { volumes: { configMap: { defaultMode: number; items: { mode: number }[] } }[] } }).spec.volumes[0];
    assert.equal(volume.configMap.defaultMode, 288);
    assert.equal(volume.configMap.items[0].mode, 256);
    assert.deepEqual((kubectlReads(pod).spec as { volumes: unknown[] }).volumes, [volume]);
  });

  it('keeps quoted and !!str scalars as text', () => {
    const [object] = parseManifests([{ source: 'q.yaml', text: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: q}\ndata: {a: "0644", b: 'yes', c: !!str on, d: !!float 1}\n` }]);
    assert.deepEqual((object as unknown as { data: unknown }).data, { a: '0644', b: 'yes', c: 'on', d: 1 });
  });

  it('refuses an integer a JavaScript number cannot hold exactly, and .inf, naming the document', () => {
    for (const scalar of ['9223372036854775807', '-9007199254740993', '.inf']) {
      assert.equal(resolvePlain(scalar).tag === 'str', false);
      assert.throws(() => parseManifests([{ source: 'big.yaml', text: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {a: ${scalar}}\n` }]),
        (error: unknown) => error instanceof KubeManifestError && /big\.yaml/.test(error.message) && /quote it if it is meant as text/.test(error.message));
    }
  });
});
