/**
 * Provenance without a read of its own, against the real docker-registry: a new bake hashes each
 * model file in the read that uploads it (also across cut connections and 503s), and a re-bake takes
 * the file digests from the memo, only when they make the model digest. sha256sum says what each
 * file's digest is; the statement is read back from the registry; fileReads counts the bytes read.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bakeModel, type BakeOptions } from '../../tasks/common/oci/bake';
import { memoTag } from '../../tasks/common/oci/bakeMemo';
import type { Compression } from '../../tasks/common/oci/modelLayers';
import { IN_TOTO, registryBlob, tagSchemaReferrers } from '../support/attestChecks';
import { bakeOptions, MiB, recordingContext, tempRoot, writeModel } from '../support/bakeHarness';
import { bytesReadUnder } from '../support/fileReads';
import { startHttpFaultProxy } from '../support/httpFaultProxy';
import { rawRequest } from '../support/registry/http';
import { pushBaseImage } from '../support/registry/baseImages';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { run } from '../support/registry/run';
import { startTcpProxy } from '../support/tcpProxy';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** What sha256sum says of every file under the model, by relative path, and the model digest (the sorted listing's sha256). */
async function sha256sums(model: string): Promise<{ files: Record<string, string>; digest: string }> {
  const listing = (await run('bash', ['-c', "cd \"$1\" && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum", 'sums', model])).stdout;
  const files = Object.fromEntries(listing.trim().split('\n').map((line) => line.split(/\s+/)).map(([hex, file]) => [file, hex]));
  const digest = (await run('bash', ['-c', 'printf %s "$1" | sha256sum', 'sum', listing])).stdout.split(/\s+/)[0];
  return { files, digest: `sha256:${digest}` };
}

const modelBytes = async (model: string) => Object.keys((await sha256sums(model)).files).reduce((sum, file) => sum + fs.statSync(path.join(model, file)).size, 0);

describe('Bake with provenance: the model is read once', function () {
  this.timeout(240_000);
  let registry: TestRegistry;
  let root: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot('bake-provenance-reads-');
    await pushBaseImage(registry, 'app', '1', 'oci');
  });
  after(async () => {
    await registry?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const options = (target: string, model: string, digest: string, extra: { compression?: Compression; tags?: string[]; host?: string; chunkSize?: number } = {}): BakeOptions => {
    const base = bakeOptions(registry, { base: 'app:1', target, modelPath: model, compression: extra.compression ?? 'none', tags: extra.tags ?? ['v1'], ...(extra.host ? { host: extra.host } : {}), provenance: { builder: { id: 'BakeModelIntoImage@1', version: '1.2.2' } } });
    return { ...base, registry: { ...base.registry, chunkSize: extra.chunkSize ?? 16 * MiB }, bake: { ...base.bake, modelDigest: digest } };
  };

  /** The model files' digests the pushed statement lists, by relative path. */
  async function attestedFiles(repository: string, digest: string): Promise<Record<string, string>> {
    const statement = (await tagSchemaReferrers(registry, repository, digest)).find((entry) => entry.artifactType === IN_TOTO)!;
    const dependencies = JSON.parse(statement.content.toString('utf8')).predicate.buildDefinition.resolvedDependencies as { name: string; digest: { sha256: string } }[];
    return Object.fromEntries(dependencies.filter((entry) => entry.name.startsWith('model/')).map((entry) => [entry.name.slice('model/'.length), entry.digest.sha256]));
  }

  async function bakeCounting(opts: BakeOptions, model: string) {
    const context = recordingContext();
    const { result, bytes } = await bytesReadUnder(model, () => bakeModel(opts, context));
    return { result, bytes, lines: context.lines };
  }
  const said = (lines: readonly string[], pattern: RegExp) => assert.ok(lines.some((line) => pattern.test(line)), `expected ${pattern} in:\n${lines.join('\n')}`);

  /** A model of two layers (the weights on their own), with an empty file among the small ones. */
  function model(seed: number, weightsBytes = 70 * MiB): string {
    const folder = writeModel(root, { weightsBytes, seed });
    fs.writeFileSync(path.join(folder, 'tokenizer', 'empty.txt'), '');
    fs.writeFileSync(path.join(folder, 'tokenizer', 'merges.txt'), 'the quick brown fox jumps\n'.repeat(50_000));
    return folder;
  }

  /** The memo's manifest and config, as the registry holds them. */
  async function memoOf(repository: string, digest: string) {
    const response = await rawRequest(`${registry.url}/v2/${repository}/manifests/${memoTag(digest)}`, { headers: { accept: MANIFEST } });
    assert.equal(response.status, 200, response.body);
    const manifest = JSON.parse(response.body) as { config: { mediaType: string; digest: string; size: number } };
    return { manifest, config: await registryBlob(registry, repository, manifest.config.digest) };
  }

  /** Puts a memo with another config (a blob uploaded as it is) under the model's memo tag. */
  async function rewriteMemo(repository: string, digest: string, config: { mediaType: string; bytes: Buffer }): Promise<void> {
    const { manifest } = await memoOf(repository, digest);
    const configDigest = `sha256:${createHash('sha256').update(config.bytes).digest('hex')}`;
    const started = await rawRequest(`${registry.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202, started.body);
    const session = new URL(String(started.headers.location), registry.url);
    session.searchParams.set('digest', configDigest);
    const put = await rawRequest(session.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: config.bytes });
    assert.equal(put.status, 201, put.body);
    const forged = { ...manifest, config: { mediaType: config.mediaType, digest: configDigest, size: config.bytes.length } };
    const memo = await rawRequest(`${registry.url}/v2/${repository}/manifests/${memoTag(digest)}`, { method: 'PUT', headers: { 'content-type': MANIFEST }, body: JSON.stringify(forged) });
    assert.equal(memo.status, 201, memo.body);
  }

  for (const compression of ['none', 'gzip'] as const) {
    it(`${compression}: a new bake reads the model once and attests sha256sum's digests; a re-bake from the memo reads under 1 MiB and attests the same`, async () => {
      const folder = model(compression === 'none' ? 31 : 32);
      const sums = await sha256sums(folder);
      const repository = `once-${compression}`;
      const first = await bakeCounting(options(repository, folder, sums.digest, { compression }), folder);
      assert.equal(first.bytes, await modelBytes(folder), 'every byte of the model read once, for upload and attestation both');
      assert.equal(first.result.modelLayerDigests.length, 2);
      assert.deepEqual(await attestedFiles(repository, first.result.digest), sums.files);
      const memo = await memoOf(repository, sums.digest);
      assert.deepEqual(JSON.parse(memo.config.toString('utf8')).files, sums.files, 'the memo keeps each file\'s digest');

      const second = await bakeCounting(options(repository, folder, sums.digest, { compression, tags: ['v2'] }), folder);
      said(second.lines, /was baked before: the memo .* names its 2 model layer\(s\)/);
      assert.ok(second.bytes < MiB, `the re-bake read ${second.bytes} bytes of the model`);
      assert.deepEqual(await attestedFiles(repository, second.result.digest), sums.files);
    });
  }

  it('a memo whose file digests were tampered with is not used: a full bake, saying why, attesting the true digests', async () => {
    const folder = model(33, 4 * MiB);
    const sums = await sha256sums(folder);
    await bakeCounting(options('tampered', folder, sums.digest), folder);
    const { config, manifest } = await memoOf('tampered', sums.digest);
    const files = JSON.parse(config.toString('utf8')).files as Record<string, string>;
    const cases: [string, Record<string, string>, RegExp][] = [
      ['one digest differs', { ...files, 'weights.bin': 'e'.repeat(64) }, /its file digests do not make model sha256:/],
      ['one file renamed', Object.fromEntries(Object.entries(files).map(([name, hex]) => [name === 'config.json' ? 'other.json' : name, hex])), /its file digests name other files than this model's/],
      ['not hex', { ...files, 'weights.bin': 'E'.repeat(64) }, /its file digests are malformed/],
    ];
    for (const [index, [what, forged, why]] of cases.entries()) {
      await rewriteMemo('tampered', sums.digest, { mediaType: manifest.config.mediaType, bytes: Buffer.from(JSON.stringify({ files: forged })) });
      const again = await bakeCounting(options('tampered', folder, sums.digest, { tags: [`t${index}`] }), folder);
      said(again.lines, new RegExp(`memo of model ${sums.digest} .* does not match this model \\(${why.source}`));
      assert.equal(again.bytes, await modelBytes(folder), `${what}: a full bake reads the model once`);
      assert.deepEqual(await attestedFiles('tampered', again.result.digest), sums.files, `${what}: the true digests`);
    }
  });

  it('a memo an older version wrote (no file digests) is used, and the attestation hashes the files', async () => {
    const folder = model(34, 4 * MiB);
    const sums = await sha256sums(folder);
    await bakeCounting(options('older', folder, sums.digest), folder);
    await rewriteMemo('older', sums.digest, { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') });
    const again = await bakeCounting(options('older', folder, sums.digest, { tags: ['v2'] }), folder);
    said(again.lines, /was baked before: the memo/);
    assert.ok(again.bytes >= (await modelBytes(folder)), `the attestation hashed the files: ${again.bytes} bytes read`);
    assert.deepEqual(await attestedFiles('older', again.result.digest), sums.files);
  });

  const apart = /did not stream its tar once from start to end: its files are hashed apart/;

  for (const compression of ['none', 'gzip'] as const) {
    it(`${compression}: connections cut and PATCHes answered 503 mid-upload still end with each file's true digest`, async () => {
      const folder = model(compression === 'none' ? 35 : 36, 24 * MiB);
      const sums = await sha256sums(folder);
      const port = Number(registry.host.split(':')[1]);
      const proxy = await startTcpProxy({ targetPort: port, cut: { direction: 'upstream', afterBytes: (n) => 6 * MiB + n * 7919, maxCuts: 3 } });
      let patches = 0;
      // The whole body reaches the proxy and is dropped: the registry holds less than was sent.
      const flaky = await startHttpFaultProxy({ targetPort: port, afterBody: true, fault: (request) => (request.method === 'PATCH' && (++patches === 2 || patches === 5) ? 503 : undefined) });
      try {
        const cut = await bakeCounting(options(`cut-${compression}`, folder, sums.digest, { compression, chunkSize: 4 * MiB, host: `127.0.0.1:${proxy.port}` }), folder);
        assert.equal(proxy.cuts, 3, 'three connections were cut');
        said(cut.lines, /the upload starts again from its first byte/);
        assert.ok(!cut.lines.some((line) => apart.test(line)), `a layer sent again from its first byte hashes its files again in that read:\n${cut.lines.join('\n')}`);
        assert.deepEqual(await attestedFiles(`cut-${compression}`, cut.result.digest), sums.files);

        const resumed = await bakeCounting(options(`flaky-${compression}`, folder, sums.digest, { compression, chunkSize: 4 * MiB, host: `127.0.0.1:${flaky.port}` }), folder);
        assert.equal(flaky.faults, 2, 'two PATCHes were answered 503');
        said(resumed.lines, /the upload goes on from there/);
        if (compression === 'gzip') {
          assert.equal(resumed.bytes, await modelBytes(folder), 'the chunks were resent from memory: one read for upload and attestation');
          assert.ok(!resumed.lines.some((line) => apart.test(line)), resumed.lines.join('\n'));
        } else {
          said(resumed.lines, apart); // bytes sent again mid-way: the files are hashed apart
        }
        assert.deepEqual(await attestedFiles(`flaky-${compression}`, resumed.result.digest), sums.files);
      } finally {
        await proxy.close();
        await flaky.close();
      }
    });
  }
});
