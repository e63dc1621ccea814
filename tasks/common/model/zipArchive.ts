/**
 * Reads a zip file's central directory (ZIP64 included) and extracts single entries, checking each
 * entry's CRC-32 and size. Names are returned as stored and never used as paths here: callers
 * extract to paths of their own and check names before they reach a destination.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { RemoteError } from '../errors';

export interface ZipEntry {
  readonly name: string;
  readonly isDirectory: boolean;
  /** 0 stored, 8 deflated. */
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
  readonly encrypted: boolean;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

function corrupt(file: string, why: string): RemoteError {
  return new RemoteError('ZipCorrupt', [file, why]);
}

export async function readZipEntries(file: string): Promise<ZipEntry[]> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const directory = await centralDirectory(handle, size, file);
    const buffer = await read(handle, directory.offset, directory.size);
    const entries: ZipEntry[] = [];
    for (let at = 0, index = 0; index < directory.count; index++) {
      if (buffer.readUInt32LE(at) !== CENTRAL) throw corrupt(file, `central directory entry ${index} has a bad signature`);
      const entry = parseCentralEntry(buffer, at);
      entries.push(entry.value);
      at = entry.next;
    }
    return entries;
  } finally {
    await handle.close();
  }
}

async function read(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/** Finds the end-of-central-directory record, and its ZIP64 twin when the zip needs one. */
async function centralDirectory(handle: FileHandle, size: number, file: string): Promise<{ offset: number; size: number; count: number }> {
  const tailStart = Math.max(0, size - (22 + MAX_COMMENT));
  const tail = await read(handle, tailStart, size - tailStart);
  let at = tail.length - 22;
  while (at >= 0 && tail.readUInt32LE(at) !== EOCD) at--;
  if (at < 0) throw corrupt(file, 'no end of central directory (the download is incomplete or not a zip)');
  let count = tail.readUInt16LE(at + 10);
  let directorySize = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  if (count === 0xffff || directorySize === 0xffffffff || offset === 0xffffffff) {
    const locatorAt = tailStart + at - 20;
    const locator = await read(handle, locatorAt, 20);
    if (locator.readUInt32LE(0) !== ZIP64_LOCATOR) throw corrupt(file, 'ZIP64 locator missing');
    const record = await read(handle, Number(locator.readBigUInt64LE(8)), 56);
    if (record.readUInt32LE(0) !== ZIP64_EOCD) throw corrupt(file, 'ZIP64 end of central directory missing');
    count = Number(record.readBigUInt64LE(32));
    directorySize = Number(record.readBigUInt64LE(40));
    offset = Number(record.readBigUInt64LE(48));
  }
  if (offset + directorySize > size) throw corrupt(file, 'the central directory lies beyond the end of the file');
  return { offset, size: directorySize, count };
}

function parseCentralEntry(buffer: Buffer, at: number): { value: ZipEntry; next: number } {
  const flags = buffer.readUInt16LE(at + 8);
  const nameLength = buffer.readUInt16LE(at + 28);
  const extraLength = buffer.readUInt16LE(at + 30);
  const commentLength = buffer.readUInt16LE(at + 32);
  // Bit 11: UTF-8 name. Other non-ASCII names (old tools' code page 437) are read as Latin-1.
  const name = buffer.toString(flags & 0x800 ? 'utf8' : 'latin1', at + 46, at + 46 + nameLength);
  const sizes = zip64Sizes(buffer.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength), {
    size: buffer.readUInt32LE(at + 24),
    compressedSize: buffer.readUInt32LE(at + 20),
    localHeaderOffset: buffer.readUInt32LE(at + 42),
  });
  return {
    value: Object.freeze({
      name,
      isDirectory: name.endsWith('/'),
      method: buffer.readUInt16LE(at + 10),
      crc32: buffer.readUInt32LE(at + 16),
      encrypted: (flags & 1) === 1,
      ...sizes,
    }),
    next: at + 46 + nameLength + extraLength + commentLength,
  };
}

type Sizes = { size: number; compressedSize: number; localHeaderOffset: number };

/** ZIP64 extra field (id 1): 8-byte values, in this order, for each 32-bit field that is 0xFFFFFFFF. */
function zip64Sizes(extra: Buffer, sizes: Sizes): Sizes {
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (id === 1) {
      const result = { ...sizes };
      let field = at + 4;
      for (const key of ['size', 'compressedSize', 'localHeaderOffset'] as const) {
        if (sizes[key] === 0xffffffff && field + 8 <= at + 4 + length) {
          result[key] = Number(extra.readBigUInt64LE(field));
          field += 8;
        }
      }
      return result;
    }
    at += 4 + length;
  }
  return sizes;
}

/** Writes one entry's content to `target`, failing unless its size and CRC-32 are as recorded. */
export async function extractZipEntry(file: string, entry: ZipEntry, target: string): Promise<void> {
  if (entry.encrypted) throw corrupt(file, `entry '${entry.name}' is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) throw corrupt(file, `entry '${entry.name}' uses compression method ${entry.method} (only stored and deflate are supported)`);
  const handle = await open(file, 'r');
  let dataOffset: number;
  try {
    const local = await read(handle, entry.localHeaderOffset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL) throw corrupt(file, `entry '${entry.name}' has no local header`);
    dataOffset = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  } finally {
    await handle.close();
  }
  const check = new CrcCheck();
  const source = entry.compressedSize > 0 ? createReadStream(file, { start: dataOffset, end: dataOffset + entry.compressedSize - 1 }) : Readable.from([]);
  try {
    if (entry.method === 8) await pipeline(source, zlib.createInflateRaw(), check, createWriteStream(target));
    else await pipeline(source, check, createWriteStream(target));
  } catch (error) {
    throw corrupt(file, `entry '${entry.name}' does not inflate (${(error as Error).message})`);
  }
  if (check.size !== entry.size || check.value() !== entry.crc32) {
    throw corrupt(file, `entry '${entry.name}' has ${check.size} bytes with CRC-32 ${check.value().toString(16)}, but the zip records ${entry.size} bytes with ${entry.crc32.toString(16)}`);
  }
}

/** Counts bytes and computes their CRC-32 as they pass. */
class CrcCheck extends Transform {
  size = 0;
  private crc = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.size += chunk.length;
    this.crc = crc32(chunk, this.crc);
    done(null, chunk);
  }
  value(): number {
    return this.crc >>> 0;
  }
}

let table: Uint32Array | undefined;

/** zlib.crc32 where Node has it (20.15+, 22.2+); a table-driven CRC-32 otherwise. */
function crc32(data: Buffer, previous: number): number {
  const native = (zlib as { crc32?: (data: Buffer, value?: number) => number }).crc32;
  if (native) return native(data, previous);
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = ~previous;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
