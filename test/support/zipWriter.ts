/**
 * Writes zip archives in memory, the way Azure DevOps serves an artifact: entries stored or
 * deflated, sizes in data descriptors when streamed, ZIP64 records when asked (or needed). Test
 * code only; test/integration/zip-archive.test.ts checks its output with yauzl, a third-party reader.
 */
import * as zlib from 'node:zlib';

export interface ZipInput {
  readonly name: string;
  readonly data: Buffer;
  /** Default deflate. */
  readonly method?: 'store' | 'deflate';
  /** Hostile zips: the deflated bytes to store instead of deflating `data` (see deflatedZeros). */
  readonly deflated?: Buffer;
  /** Hostile zips: the uncompressed size the headers declare instead of data's length. */
  readonly declaredSize?: number;
}

export interface ZipOptions {
  /** Write ZIP64 extra fields and end records even for small archives. */
  readonly zip64?: boolean;
  /** Leave CRC and sizes out of local headers and write them after the data, as streaming zippers do. */
  readonly dataDescriptors?: boolean;
  /** Hostile zips: the entry count the end records claim instead of the real one. */
  readonly claimedCount?: number;
}

/**
 * Raw deflate data that inflates to `mebibytes` MiB of zeros, about 1 KiB per MiB, made without
 * ever holding the inflated bytes: one flushed (non-final) block per MiB, then a final empty block.
 */
export function deflatedZeros(mebibytes: number): Buffer {
  const block = zlib.deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return Buffer.concat([...Array.from({ length: mebibytes }, () => block), zlib.deflateRawSync(Buffer.alloc(0))]);
}

const crc32 = (zlib as unknown as { crc32(data: Buffer): number }).crc32;

export function writeZip(inputs: readonly ZipInput[], options: ZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const input of inputs) {
    const method = input.method === 'store' ? 0 : 8;
    const body = input.deflated ?? (method === 8 ? zlib.deflateRawSync(input.data) : input.data);
    const entry = { name: Buffer.from(input.name, 'utf8'), crc: crc32(input.data) >>> 0, size: input.declaredSize ?? input.data.length, compressed: body.length, method: input.deflated ? 8 : method, offset };
    const local = localHeader(entry, options);
    parts.push(local, body);
    offset += local.length + body.length;
    if (options.dataDescriptors) {
      const descriptor = dataDescriptor(entry, options.zip64 === true);
      parts.push(descriptor);
      offset += descriptor.length;
    }
    central.push(centralHeader(entry, options));
  }
  const directory = Buffer.concat(central);
  parts.push(directory, ...endRecords(options.claimedCount ?? inputs.length, directory.length, offset, options.zip64 === true));
  return Buffer.concat(parts);
}

type Entry = { name: Buffer; crc: number; size: number; compressed: number; method: number; offset: number };

function zip64Extra(values: number[]): Buffer {
  const extra = Buffer.alloc(4 + 8 * values.length);
  extra.writeUInt16LE(1, 0);
  extra.writeUInt16LE(8 * values.length, 2);
  values.forEach((value, index) => extra.writeBigUInt64LE(BigInt(value), 4 + 8 * index));
  return extra;
}

function localHeader(entry: Entry, options: ZipOptions): Buffer {
  const header = Buffer.alloc(30);
  const deferred = options.dataDescriptors === true;
  const extra = options.zip64 ? zip64Extra(deferred ? [0, 0] : [entry.size, entry.compressed]) : Buffer.alloc(0);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(options.zip64 ? 45 : 20, 4);
  header.writeUInt16LE(0x800 | (deferred ? 8 : 0), 6);
  header.writeUInt16LE(entry.method, 8);
  header.writeUInt32LE(deferred ? 0 : entry.crc, 14);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : deferred ? 0 : entry.compressed, 18);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : deferred ? 0 : entry.size, 22);
  header.writeUInt16LE(entry.name.length, 26);
  header.writeUInt16LE(extra.length, 28);
  return Buffer.concat([header, entry.name, extra]);
}

function dataDescriptor(entry: Entry, zip64: boolean): Buffer {
  const descriptor = Buffer.alloc(zip64 ? 24 : 16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(entry.crc, 4);
  if (zip64) {
    descriptor.writeBigUInt64LE(BigInt(entry.compressed), 8);
    descriptor.writeBigUInt64LE(BigInt(entry.size), 16);
  } else {
    descriptor.writeUInt32LE(entry.compressed, 8);
    descriptor.writeUInt32LE(entry.size, 12);
  }
  return descriptor;
}

function centralHeader(entry: Entry, options: ZipOptions): Buffer {
  const header = Buffer.alloc(46);
  const extra = options.zip64 ? zip64Extra([entry.size, entry.compressed, entry.offset]) : Buffer.alloc(0);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(options.zip64 ? 45 : 20, 4);
  header.writeUInt16LE(options.zip64 ? 45 : 20, 6);
  header.writeUInt16LE(0x800 | (options.dataDescriptors ? 8 : 0), 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : entry.compressed, 20);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : entry.size, 24);
  header.writeUInt16LE(entry.name.length, 28);
  header.writeUInt16LE(extra.length, 30);
  header.writeUInt32LE(options.zip64 ? 0xffffffff : entry.offset, 42);
  return Buffer.concat([header, entry.name, extra]);
}

function endRecords(count: number, size: number, offset: number, zip64: boolean): Buffer[] {
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(zip64 ? 0xffff : count, 8);
  end.writeUInt16LE(zip64 ? 0xffff : count, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : size, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : offset, 16);
  if (!zip64) return [end];
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(BigInt(count), 24);
  record.writeBigUInt64LE(BigInt(count), 32);
  record.writeBigUInt64LE(BigInt(size), 40);
  record.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + size), 8);
  locator.writeUInt32LE(1, 16);
  return [record, locator, end];
}
