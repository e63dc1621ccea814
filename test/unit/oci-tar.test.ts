import { strict as assert } from 'node:assert';
import { entryHeader, segmentsSize, tarSegments } from '../../tasks/common/oci/tar';

/** Reads the fields a tar reader would, straight from the header bytes. */
function field(header: Buffer, offset: number, length: number): string {
  return header.subarray(offset, offset + length).toString('utf8').replace(/\0.*$/s, '');
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
  return parseInt(field(header, 148, 8).trim(), 8) === sum;
}

describe('deterministic tar headers', () => {
  it('writes a ustar header with fixed owner, mode and mtime', () => {
    const header = entryHeader({ path: 'models/model.onnx', type: 'file', mode: 0o644, size: 1234 }, 1_700_000_000);
    assert.equal(header.length, 512);
    assert.equal(field(header, 0, 100), 'models/model.onnx');
    assert.equal(parseInt(field(header, 100, 8), 8), 0o644);
    assert.equal(parseInt(field(header, 108, 8), 8), 0);
    assert.equal(parseInt(field(header, 116, 8), 8), 0);
    assert.equal(parseInt(field(header, 124, 12), 8), 1234);
    assert.equal(parseInt(field(header, 136, 12), 8), 1_700_000_000);
    assert.equal(field(header, 257, 6), 'ustar');
    assert.equal(field(header, 265, 32), '');
    assert.ok(checksumOk(header));
  });

  it('adds a PAX header for names over 100 bytes', () => {
    const name = `models/${'deep/'.repeat(30)}weights.bin`;
    const header = entryHeader({ path: name, type: 'file', mode: 0o644, size: 1 }, 0);
    assert.equal(String.fromCharCode(header[156]), 'x');
    const paxLength = parseInt(field(header, 124, 12), 8);
    const pax = header.subarray(512, 512 + paxLength).toString('utf8');
    const record = pax.split('\n')[0];
    assert.equal(Number(record.split(' ')[0]), Buffer.byteLength(record) + 1, 'a PAX record length counts the whole record');
    assert.equal(record.slice(record.indexOf('path=') + 5), name);
    assert.equal(header.length % 512, 0);
    assert.ok(checksumOk(header.subarray(header.length - 512)));
  });

  it('adds a PAX size for files of 8 GiB and more, with the ustar size left 0', () => {
    const size = 9 * 1024 ** 3;
    const header = entryHeader({ path: 'models/big.bin', type: 'file', mode: 0o644, size }, 0);
    const pax = header.subarray(512, 1024).toString('utf8');
    assert.match(pax, new RegExp(` size=${size}\n`));
    assert.equal(parseInt(field(header.subarray(header.length - 512), 124, 12), 8), 0);
  });

  it('pads files to 512 bytes and ends with two zero blocks', () => {
    const segments = tarSegments([
      { path: 'models/', type: 'directory', mode: 0o755, size: 0 },
      { path: 'models/a', type: 'file', mode: 0o644, size: 10, source: '/nonexistent' },
    ], 0);
    assert.equal(segmentsSize(segments), 512 + 512 + 512 + 1024);
  });

  it('gives identical bytes for identical entries', () => {
    const entry = { path: 'models/a', type: 'file' as const, mode: 0o644, size: 3 };
    assert.deepEqual(entryHeader(entry, 5), entryHeader(entry, 5));
    assert.notDeepEqual(entryHeader(entry, 5), entryHeader(entry, 6));
  });
});
