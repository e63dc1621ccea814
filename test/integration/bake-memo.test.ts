/**
 * Re-bake without reading the model: the memo an earlier bake left in the registry, used when it
 * holds up (hit) and set aside, saying why, when it does not (stale, missing layer, tampered, a
 * model Fetch installed under another digest or changed since). Against the real docker-registry.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { silentProgress } from '../../tasks/common/log';
import { bakeModel, type BakeOptions } from '../../tasks/common/oci/bake';
import { memoTag } from '../../tasks/common/oci/bakeMemo';
import { bakeOptions, MiB, recordingContext, seeded, tempRoot, writeModel } from '../support/bakeHarness';
import { fakeAgent } from '../support/fakeAgent';
import { testFetchOptions } from '../support/fetchHarness';
import { beginAttestation, fileDigestsWanted, modelFileDigests, type AttestationStart } from '../../tasks/common/attest/attest';
import { markerPath } from '../../tasks/common/model/install';
import { FakeModelStore } from '../support/fakeModelStore';
import { rawRequest } from '../support/registry/http';
import { pushBaseImage } from '../support/registry/baseImages';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { testServices } from '../support/services';

const digestOf = (seed: number) => `sha256:${seed.toString(16).padStart(64, '0')}`;

describe('Bake: re-bake from the memo in the registry', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let root: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot('bake-memo-');
    await pushBaseImage(registry, 'app', '1', 'oci');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const options = (target: string, modelPath: string, model: string, extra: Partial<Pick<BakeOptions, 'tags' | 'compression'>> = {}) => {
    const base = bakeOptions(registry, { base: 'app:1', target, modelPath, ...extra });
    return { ...base, bake: { ...base.bake, modelDigest: model } };
  };
  async function bake(opts: BakeOptions) {
    const context = recordingContext();
    const result = await bakeModel(opts, context);
    return { result, lines: context.lines };
  }
  const said = (lines: readonly string[], pattern: RegExp) => assert.ok(lines.some((line) => pattern.test(line)), `expected ${pattern} in:\n${lines.join('\n')}`);

  it('hit: the second bake of the model takes its layers from the memo and does not hash the files', async () => {
    const model = writeModel(root, { weightsBytes: 8 * MiB });
    const first = await bake(options('hit', model, digestOf(1)));
    said(first.lines, /No memo of an earlier bake of model sha256:0+1 /);
    // The weights change past the part a memo check reads: a bake that hashed them would give other layers.
    const weights = path.join(model, 'weights.bin');
    const fd = fs.openSync(weights, 'r+');
    fs.writeSync(fd, randomBytes(MiB), 0, MiB, 4 * MiB);
    fs.closeSync(fd);
    const second = await bake(options('hit', model, digestOf(1), { tags: ['v2'] }));
    said(second.lines, /was baked before: the memo .*bakememo-sha256-0+1 names its 1 model layer\(s\)/);
    assert.deepEqual(second.result.modelLayerDigests, first.result.modelLayerDigests, 'the memo\'s layers, not new hashes');
    assert.equal(second.result.bytesUploaded! < MiB, true, 'no layer uploaded again');
  });

  it('stale: other layer settings or another file list are a full bake, and the memo is replaced', async () => {
    const model = writeModel(root, { weightsBytes: 2 * MiB, seed: 2 });
    await bake(options('stale', model, digestOf(2)));
    const moved = await bake(options('stale', model, digestOf(2), { compression: 'gzip', tags: ['gz'] }));
    said(moved.lines, /memo of model sha256:0+2 .* was made for other files or other layer settings/);
    fs.writeFileSync(path.join(model, 'extra.txt'), 'one more file');
    const added = await bake(options('stale', model, digestOf(2), { compression: 'gzip', tags: ['added'] }));
    said(added.lines, /was made for other files or other layer settings/);
    const again = await bake(options('stale', model, digestOf(2), { compression: 'gzip', tags: ['again'] }));
    said(again.lines, /was baked before/);
    assert.deepEqual(again.result.modelLayerDigests, added.result.modelLayerDigests);
  });

  it('missing layer: a memo naming a layer the registry lost is a full bake that uploads it again', async () => {
    const model = writeModel(root, { weightsBytes: 2 * MiB, seed: 3 });
    const first = await bake(options('missing', model, digestOf(3)));
    const lost = first.result.modelLayerDigests[0];
    const deleted = await rawRequest(`${registry.url}/v2/missing/blobs/${lost}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202, deleted.body);
    const second = await bake(options('missing', model, digestOf(3), { tags: ['v2'] }));
    said(second.lines, new RegExp(`names layer ${lost}, which the registry no longer holds`));
    assert.deepEqual(second.result.modelLayerDigests, first.result.modelLayerDigests);
    assert.ok(second.result.bytesUploaded! > 2 * MiB, 'the lost layer is uploaded again');
  });

  it('tampered: a memo pointing at another model\'s layers is ignored, and the image holds this model', async () => {
    const ours = writeModel(root, { weightsBytes: 2 * MiB, seed: 4 });
    const theirs = writeModel(root, { weightsBytes: 2 * MiB, seed: 5 });
    const honest = await bake(options('tampered-ref', ours, digestOf(4)));
    await bake(options('tampered', theirs, digestOf(5)));
    // Their memo, with the same file list and sizes as ours, put under our model's tag.
    const memo = await rawRequest(`${registry.url}/v2/tampered/manifests/${memoTag(digestOf(5))}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const forged = memo.body.replace(digestOf(5), digestOf(4));
    const put = await rawRequest(`${registry.url}/v2/tampered/manifests/${memoTag(digestOf(4))}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: forged });
    assert.equal(put.status, 201, put.body);
    const second = await bake(options('tampered', ours, digestOf(4)));
    said(second.lines, /memo of model sha256:0+4 .* does not match this model \(layer sha256:[0-9a-f]+ does not start with this model's files\)/);
    assert.deepEqual(second.result.modelLayerDigests, honest.result.modelLayerDigests, 'our layers, hashed from our files');
    // A memo under our tag that names another model is caught before any layer is looked at.
    const renamed = await rawRequest(`${registry.url}/v2/tampered/manifests/${memoTag(digestOf(4))}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: memo.body });
    assert.equal(renamed.status, 201, renamed.body);
    const third = await bake(options('tampered', ours, digestOf(4), { tags: ['v3'] }));
    said(third.lines, /does not match this model \(it names another model\)/);
  });

  it('a model Fetch installed: the memo needs Fetch\'s digest, and files unchanged since Fetch verified them', async () => {
    const work = fs.mkdtempSync(path.join(root, 'fetched-'));
    const store = new FakeModelStore([{ name: 'churn/1.0.0/weights.bin', data: seeded(MiB, 6) }, { name: 'churn/1.0.0/config.json', data: Buffer.from('{}') }]);
    const fetched = await fetchLatestModel(store, testFetchOptions(work), { log: fakeAgent({}).log, progress: silentProgress, ...testServices() });
    await bake(options('fetched', fetched.path, fetched.digest));
    said((await bake(options('fetched', fetched.path, fetched.digest, { tags: ['v2'] }))).lines, /was baked before/);
    const wrong = await bake(options('fetched', fetched.path, digestOf(7), { tags: ['v3'] }));
    said(wrong.lines, new RegExp(`Fetch Latest Model installed .* as model ${fetched.digest}`));
    fs.writeFileSync(path.join(fetched.path, 'config.json'), '{"x":1}');
    const changed = await bake(options('fetched', fetched.path, fetched.digest, { tags: ['v4'] }));
    said(changed.lines, /a file in .* changed since Fetch Latest Model verified it/);
  });

  it("the attestation takes each file's digest from Fetch's record while the file is unchanged, and hashes it once it changed", async () => {
    const work = fs.mkdtempSync(path.join(root, 'attested-'));
    const store = new FakeModelStore([{ name: 'churn/1.0.0/weights.bin', data: seeded(MiB, 8) }]);
    const fetched = await fetchLatestModel(store, testFetchOptions(work), { log: fakeAgent({}).log, progress: silentProgress, ...testServices() });
    const weights = path.join(fetched.path, 'weights.bin');
    const actual = `sha256:${createHash('sha256').update(fs.readFileSync(weights)).digest('hex')}`;
    assert.deepEqual(await modelFileDigests(fetched.path), [{ path: 'weights.bin', digest: actual }]);
    // A record that says otherwise is believed while the file's stat is as recorded: the file is not read.
    const marker = JSON.parse(fs.readFileSync(markerPath(fetched.path), 'utf8'));
    marker.model.files[0].sha256 = 'f'.repeat(64);
    fs.writeFileSync(markerPath(fetched.path), JSON.stringify(marker));
    assert.deepEqual(await modelFileDigests(fetched.path), [{ path: 'weights.bin', digest: `sha256:${'f'.repeat(64)}` }]);
    fs.appendFileSync(weights, 'x');
    const rewritten = `sha256:${createHash('sha256').update(fs.readFileSync(weights)).digest('hex')}`;
    assert.deepEqual(await modelFileDigests(fetched.path), [{ path: 'weights.bin', digest: rewritten }]);
  });

  it("the upload hashes no file for the attestation where Fetch's record vouches for every file", async () => {
    const work = fs.mkdtempSync(path.join(root, 'vouched-'));
    const store = new FakeModelStore([{ name: 'churn/1.0.0/weights.bin', data: seeded(MiB, 9) }, { name: 'churn/1.0.0/config.json', data: Buffer.from('{}') }]);
    const fetched = await fetchLatestModel(store, testFetchOptions(work), { log: fakeAgent({}).log, progress: silentProgress, ...testServices() });
    const startedAt = (modelPath: string) => beginAttestation({ provenance: { builder: { id: 'BakeModelIntoImage@1', version: '1.2.2' } }, modelPath }) as AttestationStart;
    assert.equal(await fileDigestsWanted(startedAt(fetched.path), ['config.json', 'weights.bin']), false);
    assert.equal(await fileDigestsWanted(startedAt(fetched.path), ['config.json', 'weights.bin', 'extra.txt']), true, 'a file the record does not name');
    assert.equal(await fileDigestsWanted(startedAt(work), ['weights.bin']), true, 'no record there');
    fs.appendFileSync(path.join(fetched.path, 'config.json'), ' ');
    assert.equal(await fileDigestsWanted(startedAt(fetched.path), ['config.json', 'weights.bin']), true, 'a file changed since Fetch verified it');
  });
});
