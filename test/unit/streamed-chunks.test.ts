/**
 * A compressed layer sent as it is compressed (StreamedChunks): played against a model of the
 * registry that keeps what lands, keeps part of a cut chunk, loses part of what it held, or forgets
 * the session. Whatever happens, once the stream has ended the registry holds the gzip of the tar,
 * and the two digests learnt on the way are the gzip's and the tar's, as a separate pass gives them.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { StreamedChunks, type StreamedBlob } from '../../tasks/common/oci/registry/streamedChunks';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A tar stand-in, gzipped as it is read in `pieceSize` pieces; counts the reads from its first byte. */
function gzipBlob(tar: Buffer, pieceSize: number): StreamedBlob & { reads: number } {
  const blob = {
    reads: 0,
    open(source: (piece: Buffer) => void) {
      blob.reads++;
      async function* pieces() {
        for (let at = 0; at < tar.length; at += pieceSize) {
          const piece = tar.subarray(at, at + pieceSize);
          source(piece);
          yield piece;
        }
      }
      return Readable.from(pieces(), { objectMode: false }).pipe(createGzip());
    },
  };
  return blob;
}

/** What happens to one PATCH: it lands whole, or is cut after `landed` bytes, and then the registry may lose some or all it held. */
interface Send {
  readonly landed?: number;
  readonly after: 'keeps' | 'loses half' | 'forgets';
}

async function bodyOf(chunks: StreamedChunks, offset: number, max: number): Promise<Buffer | undefined> {
  const chunk = await chunks.chunk(offset, max);
  if (!chunk) return undefined;
  return Buffer.concat(await chunk.open().toArray()).subarray(0, chunk.length);
}

/** Plays the sends as the uploader does (resume at the registry's count, else start again); returns what the registry holds. */
async function play(chunks: StreamedChunks, chunkSize: number, sends: readonly Send[]): Promise<Buffer> {
  let held = Buffer.alloc(0);
  assert.ok(await chunks.resumeAt(0));
  for (const send of sends) {
    const body = await bodyOf(chunks, held.length, chunkSize);
    if (!body) return held;
    if (send.landed === undefined || send.landed >= body.length) {
      held = Buffer.concat([held, body]);
      chunks.accepted(held.length);
      continue;
    }
    held = Buffer.concat([held, body.subarray(0, send.landed)]);
    if (send.after === 'loses half') held = held.subarray(0, Math.floor(held.length / 2));
    if (send.after === 'forgets') held = Buffer.alloc(0);
    if (!(await chunks.resumeAt(held.length))) {
      chunks.restart();
      held = Buffer.alloc(0);
    }
  }
  for (let body = await bodyOf(chunks, held.length, chunkSize); body; body = await bodyOf(chunks, held.length, chunkSize)) {
    held = Buffer.concat([held, body]);
    chunks.accepted(held.length);
  }
  return held;
}

describe('a compressed layer sent as it is compressed (fast-check)', () => {
  const tar = fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((array) => Buffer.from(array));
  const landed = fc.oneof({ arbitrary: fc.nat({ max: 300 }), weight: 2 }, { arbitrary: fc.constant(undefined), weight: 1 });
  const send = fc.record({ landed, after: fc.constantFrom<Send['after']>('keeps', 'loses half', 'forgets') });

  it('ends with the gzip\'s digest and size and the tar\'s digest after any cuts, losses and forgotten sessions', async () => {
    await fc.assert(fc.asyncProperty(tar, fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 700 }), fc.array(send, { maxLength: 12 }), async (bytes, chunkSize, pieceSize, sends) => {
      const blob = gzipBlob(bytes, pieceSize);
      const chunks = new StreamedChunks(blob, 'a new model layer');
      const held = await play(chunks, chunkSize, sends);
      const gzip = gzipSync(bytes);
      assert.ok(held.equals(gzip), 'the registry holds the gzip of the tar');
      assert.deepEqual(chunks.digests(), { digest: sha256(gzip), diffId: sha256(bytes), size: gzip.length });
      const lost = sends.some((one) => one.landed !== undefined && one.after !== 'keeps');
      if (!lost) assert.equal(blob.reads, 1, 'cuts alone are resent from memory: the tar is read once');
    }), { numRuns: 300 });
  });

  it('reads the tar again from its first byte when the registry lost part of what it held, hashing and skipping what it still holds', async () => {
    const bytes = Buffer.concat(Array.from({ length: 40 }, (_, index) => createHash('sha256').update(String(index)).digest()));
    const blob = gzipBlob(bytes, 100);
    const chunks = new StreamedChunks(blob, 'a new model layer');
    const gzip = gzipSync(bytes);
    // Three chunks of 300 land; the fourth is cut, and the registry then holds only 450 bytes.
    const held = await play(chunks, 300, [{ after: 'keeps' }, { after: 'keeps' }, { after: 'keeps' }, { landed: 0, after: 'loses half' }]);
    assert.ok(gzip.length > 1200, `the gzip is ${gzip.length} bytes`);
    assert.ok(held.equals(gzip));
    assert.equal(blob.reads, 2, 'read once, then again from the first byte');
    assert.deepEqual(chunks.digests(), { digest: sha256(gzip), diffId: sha256(bytes), size: gzip.length });
  });

  it('reads the tar once when nothing fails, however the chunks fall', async () => {
    const bytes = Buffer.from(createHash('sha512').update('tar').digest().toString('hex').repeat(200));
    for (const chunkSize of [1, 7, 64, 1000, 100_000]) {
      const blob = gzipBlob(bytes, 333);
      const chunks = new StreamedChunks(blob, 'a new model layer');
      assert.ok((await play(chunks, chunkSize, [])).equals(gzipSync(bytes)));
      assert.equal(blob.reads, 1);
    }
  });

  it('cannot resume past the end of the blob, and a read that fails is read again from the first byte', async () => {
    const bytes = Buffer.from('a small tar');
    const chunks = new StreamedChunks(gzipBlob(bytes, 4), 'a new model layer');
    assert.equal(await chunks.resumeAt(10_000), false);
    let failing = true;
    const flaky: StreamedBlob = {
      open(source) {
        if (!failing) return gzipBlob(bytes, 4).open(source);
        failing = false;
        return new Readable({ read() { this.destroy(new Error('disk read failed')); } });
      },
    };
    const retried = new StreamedChunks(flaky, 'a new model layer');
    assert.ok(await retried.resumeAt(0));
    await assert.rejects(retried.chunk(0, 100), /disk read failed/);
    assert.ok(await retried.resumeAt(0));
    assert.ok((await play(retried, 100, [])).equals(gzipSync(bytes)));
    assert.equal(retried.digests().diffId, sha256(bytes));
  });
});
