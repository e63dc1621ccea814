import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { tarSegments, type TarEntry } from '../../tasks/common/oci/tar';
import { TarFileDigests } from '../../tasks/common/oci/tarFileDigests';

const hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Three files (one empty, one not a multiple of 512 bytes), their tar in memory, and its hasher. */
function layer() {
  const contents: Record<string, Buffer> = { '/m/a.bin': Buffer.alloc(1300, 7), '/m/empty': Buffer.alloc(0), '/m/z.txt': Buffer.from('hello\n'.repeat(200)) };
  const entries: TarEntry[] = [
    { path: 'models/', type: 'directory', mode: 0o755, size: 0 },
    ...Object.entries(contents).map(([source, bytes]): TarEntry => ({ path: `models/${source.slice(3)}`, type: 'file', mode: 0o644, size: bytes.length, source })),
  ];
  const segments = tarSegments(entries, 0);
  const tar = Buffer.concat(segments.map((segment) => (segment.kind === 'bytes' ? segment.data : contents[segment.path])));
  const expected = new Map(Object.entries(contents).map(([source, bytes]) => [source, hex(bytes)]));
  return { tar, expected, digests: new TarFileDigests(entries, segments) };
}

/** Sends tar[from, to) in pieces of `size` bytes. */
function send(digests: TarFileDigests, tar: Buffer, from: number, to: number, size = 333): void {
  for (let at = from; at < to; at += size) digests.sent(at, tar.subarray(at, Math.min(to, at + size)));
}

describe('per-file digests from the tar an upload streams', () => {
  it('gives each file\'s sha256 (an empty one\'s too) from one pass from start to end, whatever the pieces', () => {
    for (const size of [1, 100, 512, 4096, 1 << 20]) {
      const { tar, expected, digests } = layer();
      send(digests, tar, 0, tar.length, size);
      assert.deepEqual(digests.digests(), expected, `pieces of ${size} bytes`);
    }
  });

  it('gives none until the pass reached the end', () => {
    const { tar, digests } = layer();
    send(digests, tar, 0, tar.length - 1);
    assert.equal(digests.digests(), undefined);
  });

  it('starts over with a pass from byte 0 (an upload started again)', () => {
    const { tar, expected, digests } = layer();
    send(digests, tar, 0, 2000);
    send(digests, tar, 0, tar.length, 700);
    assert.deepEqual(digests.digests(), expected);
  });

  it('gives none when bytes are sent again or skipped mid-way, even when the count adds up to the tar', () => {
    const { tar, digests } = layer();
    send(digests, tar, 0, 1000);
    send(digests, tar, 500, 1000); // 500 bytes again
    send(digests, tar, 1500, tar.length); // 500 bytes skipped
    assert.equal(digests.digests(), undefined);
  });

  it('takes a gzip layer\'s input from its latest read only: an earlier read that goes on does not count', () => {
    const { tar, expected, digests } = layer();
    const first = digests.read();
    first(tar.subarray(0, 900));
    const second = digests.read();
    first(tar.subarray(900, 1800)); // the first read, closing, still passes a piece
    second(tar);
    assert.deepEqual(digests.digests(), expected);
  });
});
