import { strict as assert } from 'node:assert';
import { compareVersions, nameWithoutVersion, parseVersion, sameVersionText, versionInName, type Version } from '../../tasks/common/model/version';

const v = (text: string): Version => {
  const parsed = parseVersion(text);
  assert.ok(parsed, `expected '${text}' to parse`);
  return parsed;
};

describe('version parsing and ordering', () => {
  it('compares release segments numerically, not as text', () => {
    assert.equal(compareVersions(v('1.10.0'), v('1.9.3')), 1);
    assert.equal(compareVersions(v('2'), v('10')), -1);
    assert.equal(compareVersions(v('1.2'), v('1.2.0')), 0);
  });

  it('allows a leading v and keeps the published text', () => {
    assert.equal(compareVersions(v('v2.0.0'), v('1.99.99')), 1);
    assert.equal(v('v2.0.0').raw, 'v2.0.0');
  });

  it('sorts a pre-release below its release, and pre-releases by SemVer rules', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0'];
    const shuffled = [...ordered].reverse().map(v).sort(compareVersions).map((version) => version.raw);
    assert.deepEqual(shuffled, ordered);
  });

  it('orders date stamps naturally', () => {
    const ordered = ['2026-01-31', '2026-02-01', '2026-11-20', '2026-11-20.2', '2026-11-20.10'];
    assert.deepEqual([...ordered].reverse().map(v).sort(compareVersions).map((x) => x.raw), ordered);
    assert.equal(compareVersions(v('20261120.3'), v('20261120.12')), -1);
    assert.equal(compareVersions(v('20261121'), v('20261120.12')), 1);
  });

  it('rejects tokens that are not versions', () => {
    for (const text of ['', 'latest', 'v', '1..2', '1.2.', 'abc1', '1.2.x', '-1']) assert.equal(parseVersion(text), undefined, text);
  });

  it('finds the version in folder and file names', () => {
    assert.equal(versionInName('1.4.0', { isFile: false })?.raw, '1.4.0');
    assert.equal(versionInName('model-1.4.0', { isFile: false })?.raw, '1.4.0');
    assert.equal(versionInName('model-3.0.0.bin', { isFile: true })?.raw, '3.0.0');
    assert.equal(versionInName('churn_v3.pkl', { isFile: true })?.raw, 'v3');
    assert.equal(versionInName('my-model-2.1.0-rc.1.onnx', { isFile: true })?.raw, '2.1.0-rc.1');
    assert.equal(versionInName('model@2026-11-20.tar.gz', { isFile: true })?.raw, '2026-11-20');
    assert.equal(versionInName('README.md', { isFile: true }), undefined);
    assert.equal(versionInName('archive', { isFile: false }), undefined);
  });

  it('removes the version from a name to get the model name', () => {
    assert.equal(nameWithoutVersion('model-3.0.0.bin', v('3.0.0')), 'model');
    assert.equal(nameWithoutVersion('churn_v3.pkl', v('v3')), 'churn');
  });

  it('treats v1.4.0 and 1.4.0 as the same pinned version, but not 1.4 and 1.4.0', () => {
    assert.ok(sameVersionText('v1.4.0', '1.4.0'));
    assert.ok(!sameVersionText('1.4', '1.4.0'));
  });
});
