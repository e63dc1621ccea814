/**
 * Property tests of the zip central directory reader, the parser that reads a peer's bytes in the
 * pipeline artifact path: random bytes, and valid zips mutated where a liar would lie (the end
 * records' counts, sizes and offsets, entries' lengths, sizes and offsets, truncation), must end
 * in entries that check out or in the zip's own error: never another exception, never a hang,
 * never a read larger than the limits allow.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { TaskError } from '../../tasks/common/errors';
import { type ZipLimits, type ZipSource, entryNameProblem, readZipDirectory } from '../../tasks/common/model/zipDirectory';
import { writeZip, type ZipInput } from '../support/zipWriter';

const LIMITS: ZipLimits = { maxEntries: 64, maxDirectoryBytes: 16 * 1024 };
/** The end record search reads at most this much: the record and the largest comment. */
const TAIL = 22 + 0xffff;

interface Spied {
  readonly source: ZipSource;
  /** Every read asked for: what a file-backed source allocates before reading. */
  readonly reads: { position: number; length: number }[];
}

function sourceOf(bytes: Buffer): Spied {
  const reads: Spied['reads'] = [];
  return {
    source: {
      name: 'property.zip',
      size: bytes.length,
      read: async (position, length) => {
        reads.push({ position, length });
        return bytes.subarray(position, position + length);
      },
    },
    reads,
  };
}

/** Only the end record search may read more than the directory limit: the file's tail, at most TAIL bytes. */
function assertBoundedReads(reads: Spied['reads'], size: number): void {
  for (const { position, length } of reads) {
    const tail = position + length === size && length <= TAIL;
    assert.ok(tail || length <= LIMITS.maxDirectoryBytes, `read ${length} bytes at ${position} of ${size}`);
  }
}

/** The property every input must satisfy, whatever it is. */
async function readsSafely(bytes: Buffer): Promise<void> {
  const { source, reads } = sourceOf(bytes);
  try {
    const entries = await readZipDirectory(source, LIMITS);
    assert.ok(entries.length <= LIMITS.maxEntries);
    for (const entry of entries) {
      assert.equal(entryNameProblem(entry.name), undefined, `an unsafe name got through: ${JSON.stringify(entry.name)}`);
      assert.ok(entry.localHeaderOffset + 30 + entry.compressedSize <= bytes.length, 'an entry points outside the file');
      assert.ok(Number.isSafeInteger(entry.size) && entry.size >= 0);
    }
    assert.equal(new Set(entries.map((entry) => entry.name)).size, entries.length, 'two entries share a name');
  } catch (error) {
    assert.ok(error instanceof TaskError && (error.key === 'ZipCorrupt' || error.key === 'ZipEntryNameRefused'), `threw something else: ${(error as Error)?.stack ?? error}`);
  }
  assertBoundedReads(reads, bytes.length);
}

const entryArbitrary: fc.Arbitrary<ZipInput> = fc.record({
  name: fc.oneof(fc.stringMatching(/^[a-z]{1,8}(\/[a-z0-9.]{1,8}){0,3}$/), fc.string({ minLength: 1, maxLength: 12 })),
  data: fc.uint8Array({ maxLength: 64 }).map((array) => Buffer.from(array)),
  method: fc.constantFrom('store' as const, 'deflate' as const),
});

const zipArbitrary = fc
  .tuple(fc.array(entryArbitrary, { minLength: 0, maxLength: 6 }), fc.record({ zip64: fc.boolean(), dataDescriptors: fc.boolean() }))
  .map(([entries, options]) => writeZip(entries, options));

/** Values a liar would write into a field. */
const extreme = fc.constantFrom(0, 1, 0xff, 0xffff, 0xfffe, 0x7fffffff, 0xffffffff);

type Mutation = { kind: 'flip'; at: number; value: number } | { kind: 'u16' | 'u32'; at: number; value: number } | { kind: 'u64'; at: number; value: bigint } | { kind: 'cut'; at: number };

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constantFrom('u16' as const, 'u32' as const), at: fc.nat(), value: extreme }),
  fc.record({ kind: fc.constant('u64' as const), at: fc.nat(), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
);

/** Applies a mutation at a position taken modulo the length, favouring the end records where counts and offsets live. */
function mutate(zip: Buffer, mutation: Mutation, nearEnd: boolean): Buffer {
  if (zip.length === 0) return zip;
  const span = nearEnd ? Math.min(zip.length, 120) : zip.length;
  const at = zip.length - span + (mutation.at % span);
  if (mutation.kind === 'cut') return zip.subarray(0, at);
  const copy = Buffer.from(zip);
  const width = { flip: 1, u16: 2, u32: 4, u64: 8 }[mutation.kind];
  if (at + width > copy.length) return copy;
  switch (mutation.kind) {
    case 'flip':
      copy[at] ^= mutation.value || 1;
      break;
    case 'u16':
      copy.writeUInt16LE(mutation.value & 0xffff, at);
      break;
    case 'u32':
      copy.writeUInt32LE(mutation.value >>> 0, at);
      break;
    case 'u64':
      copy.writeBigUInt64LE(mutation.value, at);
  }
  return copy;
}

describe('zip central directory reader (property-based)', function () {
  this.timeout(60_000);

  it('random bytes end in entries that check out or in the zip\'s own error', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), (bytes) => readsSafely(Buffer.from(bytes))), { numRuns: 500 });
  });

  /** An end record with the given fields after `body`, and a comment of `comment` bytes. */
  function withEndRecord(body: Buffer, end: { count: number; size: number; offset: number; comment: number }): Buffer {
    const record = Buffer.alloc(22);
    record.writeUInt32LE(0x06054b50, 0);
    record.writeUInt16LE(end.count, 8);
    record.writeUInt16LE(end.count, 10);
    record.writeUInt32LE(end.size, 12);
    record.writeUInt32LE(end.offset, 16);
    record.writeUInt16LE(end.comment, 20);
    return Buffer.concat([body, record, Buffer.alloc(end.comment)]);
  }

  it('random bytes behind a valid end record (any counts, sizes and offsets) are read safely', async () => {
    const endRecord = fc.record({ count: fc.integer({ min: 0, max: 0xffff }), size: extreme, offset: extreme, comment: fc.integer({ min: 0, max: 40 }) });
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), endRecord, (body, end) => readsSafely(withEndRecord(Buffer.from(body), end))), { numRuns: 500 });
  });

  it('a directory that the file could hold but the limits do not is refused before it is read', async () => {
    const arbitrary = fc.record({ length: fc.integer({ min: LIMITS.maxDirectoryBytes + 1, max: 3 * LIMITS.maxDirectoryBytes }), count: fc.integer({ min: 0, max: 0xffff }) });
    await fc.assert(fc.asyncProperty(arbitrary, ({ length, count }) => readsSafely(withEndRecord(Buffer.alloc(length), { count, size: length, offset: 0, comment: 0 }))), { numRuns: 50 });
  });

  it('valid zips are read whole, with every name as written', async () => {
    await fc.assert(fc.asyncProperty(fc.array(entryArbitrary, { maxLength: 6 }), fc.boolean(), async (entries, zip64) => {
      const unique = [...new Map(entries.map((entry) => [entry.name, entry])).values()];
      const safe = unique.every((entry) => entryNameProblem(entry.name) === undefined);
      const { source } = sourceOf(writeZip(unique, { zip64 }));
      if (!safe) return void (await assert.rejects(readZipDirectory(source, LIMITS), (error: unknown) => error instanceof TaskError && error.key === 'ZipEntryNameRefused'));
      assert.deepEqual((await readZipDirectory(source, LIMITS)).map((entry) => [entry.name, entry.size]), unique.map((entry) => [entry.name, entry.data.length]));
    }), { numRuns: 300 });
  });

  it('valid zips with lying fields (anywhere, or in the end records) are read safely', async () => {
    await fc.assert(fc.asyncProperty(zipArbitrary, fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 }), fc.boolean(), (zip, mutations, nearEnd) =>
      readsSafely(mutations.reduce((bytes, mutation) => mutate(bytes, mutation, nearEnd), zip)),
    ), { numRuns: 1500 });
  });
});
