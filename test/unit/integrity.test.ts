import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { IntegrityError, TaskError } from '../../tasks/common/errors';
import { digestListing, modelDigest } from '../../tasks/common/model/digest';
import { assertDistinctPaths, safeRelativePath } from '../../tasks/common/model/paths';
import { sha256FromMetadata, verifyDownload } from '../../tasks/common/model/verify';
import { withoutQuery } from '../../tasks/common/redact';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('model digest', () => {
  it('is the file hash for a single-file model', () => {
    assert.equal(modelDigest([{ relativePath: 'model.onnx', sha256: sha('a') }], 'file'), `sha256:${sha('a')}`);
  });

  it('is the hash of the sorted sha256sum listing for a folder', () => {
    const files = [
      { relativePath: 'b/z.txt', sha256: sha('z') },
      { relativePath: 'B.txt', sha256: sha('B') },
      { relativePath: 'a.txt', sha256: sha('a') },
    ];
    const listing = `${sha('B')}  B.txt\n${sha('a')}  a.txt\n${sha('z')}  b/z.txt\n`;
    assert.equal(digestListing(files), listing, 'sorted bytewise, as LC_ALL=C sort does');
    assert.equal(modelDigest(files, 'folder'), `sha256:${sha(listing)}`);
    assert.equal(modelDigest([...files].reverse(), 'folder'), modelDigest(files, 'folder'), 'order of discovery does not matter');
  });

  it('changes when any file or path changes', () => {
    const base = [{ relativePath: 'a', sha256: sha('1') }, { relativePath: 'b', sha256: sha('2') }];
    assert.notEqual(modelDigest(base, 'folder'), modelDigest([base[0], { relativePath: 'c', sha256: sha('2') }], 'folder'));
    assert.notEqual(modelDigest(base, 'folder'), modelDigest([base[0], { relativePath: 'b', sha256: sha('3') }], 'folder'));
  });
});

describe('path safety', () => {
  it('accepts ordinary nested names', () => {
    assert.equal(safeRelativePath('tokenizer/vocab.txt', 'x'), 'tokenizer/vocab.txt');
  });

  for (const hostile of ['../../etc/passwd', 'a/../../b', '/etc/passwd', 'a//b', './a', 'a/.', 'C:evil', 'a\\..\\b', '']) {
    it(`rejects ${JSON.stringify(hostile)}`, () => {
      assert.throws(() => safeRelativePath(hostile, `churn/1.0/${hostile}`), (error: unknown) => error instanceof TaskError && error.key === 'UnsafeBlobName');
    });
  }

  it('rejects two files that collide on a case-insensitive file system', () => {
    assert.throws(() => assertDistinctPaths(['Model.bin', 'model.bin']), /same file/);
    assert.doesNotThrow(() => assertDistinctPaths(['a/model.bin', 'b/model.bin']));
  });
});

describe('verification', () => {
  const object = { name: 'm.bin', size: 3, etag: '"e"', lastModified: new Date(), contentMd5: createHash('md5').update('abc').digest('base64'), sha256Metadata: sha('abc') };
  const good = { path: '/x', size: 3, sha256: sha('abc'), md5: createHash('md5').update('abc').digest('base64') };

  it('passes matching bytes', () => assert.doesNotThrow(() => verifyDownload(object, good, true)));

  it('fails on a sha256 mismatch, naming the blob and both digests', () => {
    assert.throws(() => verifyDownload(object, { ...good, sha256: sha('abd') }, true), (error: unknown) => {
      assert.ok(error instanceof IntegrityError);
      assert.match(error.message, /m\.bin/);
      assert.match(error.message, new RegExp(sha('abc')));
      assert.match(error.message, new RegExp(sha('abd')));
      return true;
    });
  });

  it('fails on a Content-MD5 mismatch when no sha256 is published', () => {
    const md5Only = { ...object, sha256Metadata: undefined };
    assert.throws(() => verifyDownload(md5Only, { ...good, md5: 'AAAAAAAAAAAAAAAAAAAAAA==' }, true), /Content-MD5/);
  });

  it('lets a published sha256 stand in for Content-MD5 (the stronger digest is checked)', () => {
    assert.doesNotThrow(() => verifyDownload(object, { ...good, md5: undefined }, true));
    assert.throws(() => verifyDownload(object, { ...good, md5: undefined, sha256: sha('x') }, true), /sha256/);
  });

  it('skips digests when verification is off but still checks the size', () => {
    assert.doesNotThrow(() => verifyDownload(object, { ...good, sha256: sha('zzz') }, false));
    assert.throws(() => verifyDownload(object, { ...good, size: 2 }, false), /size/);
  });

  it('reads sha256 metadata as hex, sha256:hex or base64', () => {
    const hex = sha('abc');
    assert.equal(sha256FromMetadata(hex.toUpperCase(), 'x'), hex);
    assert.equal(sha256FromMetadata(`sha256:${hex}`, 'x'), hex);
    assert.equal(sha256FromMetadata(Buffer.from(hex, 'hex').toString('base64'), 'x'), hex);
    assert.throws(() => sha256FromMetadata('not-a-digest', 'x'), /not a sha256/);
  });
});

describe('redaction', () => {
  it('drops the query string (where a SAS lives) from every URL in a text', () => {
    const text = 'GET https://acct.blob.core.windows.net/models/m.bin?sv=2024&sig=abc%2Bdef failed; see http://127.0.0.1:1/x?sig=zzz#frag too';
    assert.equal(withoutQuery(text), 'GET https://acct.blob.core.windows.net/models/m.bin failed; see http://127.0.0.1:1/x too');
  });
});
