/**
 * The hash of what a registry holds of a streamed blob, as uploads go: bodies accepted whole, cut
 * part-way, dropped and sent again, from a source that may serve other bytes on any read. Played
 * against a model of the registry, the check passes exactly when the registry holds the blob the
 * digest names, and otherwise fails naming the image and both digests.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { IntegrityError } from '../../tasks/common/errors';
import type { Layer } from '../../tasks/common/oci/layer';
import { CommittedDigest } from '../../tasks/common/oci/registry/committedDigest';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A layer whose n-th read (from 0) serves `serve(n, offset)`. */
function layerOf(bytes: Buffer, serve: (n: number, offset: number) => Buffer): Layer {
  let reads = 0;
  return {
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: sha256(bytes),
    diffId: '',
    size: bytes.length,
    source: { registry: 'base.example', repository: 'app' },
    open: (offset = 0) => Readable.from([serve(reads++, offset)]),
  };
}

/** One PATCH: `size` bytes sent; `landed` of them kept when it is cut; `dropped` first when a 401 sends it again. */
interface Send {
  readonly size: number;
  readonly landed?: number;
  readonly dropped: boolean;
}

/** Plays sends, as uploadBlob does them, against a registry that keeps what lands; returns what it holds. */
async function play(layer: Layer, sends: readonly Send[]): Promise<{ verified: CommittedDigest; held: Buffer }> {
  const verified = new CommittedDigest(layer, 'base.example/app');
  let held = Buffer.alloc(0);
  const read = async (offset: number, count: number) => Buffer.concat(await layer.open(offset).toArray()).subarray(0, count);
  for (const send of [...sends, { size: layer.size, dropped: false }]) {
    const offset = held.length;
    if (offset >= layer.size) break;
    const count = Math.min(send.size, layer.size - offset);
    if (send.dropped) verified.forBody()(await read(offset, count));
    const body = await read(offset, count);
    verified.forBody()(body);
    if (send.landed === undefined || send.landed >= count) {
      held = Buffer.concat([held, body]);
      verified.accepted(held.length);
      continue;
    }
    held = Buffer.concat([held, body.subarray(0, send.landed)]);
    if (!verified.resumesAt(held.length)) {
      held = Buffer.alloc(0);
      verified.restart();
    }
  }
  return { verified, held };
}

describe('the committed digest of a streamed blob (fast-check)', () => {
  const blob = fc.uint8Array({ minLength: 1, maxLength: 1024 }).map((array) => Buffer.from(array));
  const send = fc.record({ size: fc.integer({ min: 1, max: 400 }), landed: fc.option(fc.nat({ max: 400 }), { nil: undefined }), dropped: fc.boolean() });

  it('passes exactly when the registry holds the blob, for any source and any sequence of sends', async () => {
    const lie = fc.option(fc.tuple(fc.nat({ max: 40 }), fc.nat()), { nil: undefined });
    await fc.assert(fc.asyncProperty(blob, fc.array(send, { maxLength: 10 }), lie, async (bytes, sends, lying) => {
      const layer = layerOf(bytes, (n, offset) => {
        const served = Buffer.from(bytes.subarray(offset));
        if (lying && n === lying[0] && served.length > 0) served[lying[1] % served.length] ^= 0xff;
        return served;
      });
      const { verified, held } = await play(layer, sends);
      const holdsTheBlob = held.equals(bytes);
      try {
        verified.check();
        assert.ok(holdsTheBlob, 'the check passed although the registry holds other bytes');
      } catch (error) {
        assert.ok(error instanceof IntegrityError && error.key === 'LayerDigestMismatch', String(error));
        assert.deepEqual(error.args, ['base.example/app', layer.digest, sha256(held)]);
        assert.ok(!holdsTheBlob);
      }
    }), { numRuns: 300 });
  });
});

describe('the learnt digest of a new model layer, hashed while it uploads (fast-check)', () => {
  it('is the blob\'s digest after any sequence of cut, landed-in-part and dropped sends, catching up from disk', async () => {
    const blob = fc.uint8Array({ minLength: 1, maxLength: 1024 }).map((array) => Buffer.from(array));
    const send = fc.record({ size: fc.integer({ min: 1, max: 400 }), landed: fc.option(fc.nat({ max: 400 }), { nil: undefined }), lost: fc.boolean() });
    await fc.assert(fc.asyncProperty(blob, fc.array(send, { maxLength: 10 }), async (bytes, sends) => {
      const open = (offset: number) => Readable.from([Buffer.from(bytes.subarray(offset))]);
      const hashing = new CommittedDigest({ digest: 'sha256:' }, 'the model files');
      let held = Buffer.alloc(0);
      let caughtUp = 0;
      for (const next of [...sends, { size: bytes.length, landed: undefined, lost: false }]) {
        if (held.length >= bytes.length) break;
        const body = bytes.subarray(held.length, held.length + next.size);
        hashing.forBody()(body);
        if (next.landed === undefined || next.landed >= body.length) {
          held = Buffer.concat([held, body]);
          hashing.accepted(held.length);
          continue;
        }
        // Cut: the registry keeps part of the body, or (lost) forgets part of what it had.
        held = next.lost ? held.subarray(0, Math.floor(held.length / 2)) : Buffer.concat([held, body.subarray(0, next.landed)]);
        if (!hashing.resumesAt(held.length)) {
          assert.ok(await hashing.catchUp(held.length, open));
          caughtUp++;
        }
      }
      assert.ok(held.equals(bytes));
      assert.equal(hashing.digest(), sha256(bytes), `after ${caughtUp} catch-ups`);
    }), { numRuns: 300 });
  });

  it('says so when the blob ends before the registry\'s count', async () => {
    const hashing = new CommittedDigest({ digest: 'sha256:' }, 'the model files');
    assert.equal(await hashing.catchUp(10, () => Readable.from([Buffer.from('short')])), false);
  });
});
