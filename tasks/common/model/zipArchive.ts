/**
 * Reads a zip file's entries (see zipDirectory.ts for how the central directory is checked) and
 * extracts single entries. Inflation stops at each entry's declared size, so a bomb cannot write
 * more than the directory declared; the CRC-32 and size are checked at the end. Names are never
 * used as paths here: callers extract to paths of their own.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { type ZipEntry, type ZipLimits, ZIP_LIMITS, readZipDirectory, zipCorrupt } from './zipDirectory';

export type { ZipEntry } from './zipDirectory';

const LOCAL = 0x04034b50;

async function read(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/** `shownAs` names the zip in messages: where it came from, rather than its scratch path. */
export async function readZipEntries(file: string, shownAs: string = file, limits: ZipLimits = ZIP_LIMITS): Promise<ZipEntry[]> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    return await readZipDirectory({ name: shownAs, size, read: (position, length) => read(handle, position, length) }, limits);
  } finally {
    await handle.close();
  }
}

/** Where an entry's data starts, once its local header checks out; its data must end within the file. */
async function dataOffsetOf(file: string, entry: ZipEntry, shownAs: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const local = await read(handle, entry.localHeaderOffset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL) throw zipCorrupt(shownAs, `entry '${entry.name}' has no local header`);
    const dataOffset = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataOffset + entry.compressedSize > size) throw zipCorrupt(shownAs, `entry '${entry.name}' runs past the end of the file`);
    return dataOffset;
  } finally {
    await handle.close();
  }
}

/**
 * Writes one entry's content to `target`, failing unless its size and CRC-32 are as recorded.
 * Inflating stops as soon as the output would pass the declared size: at most that many bytes
 * are ever written.
 */
export async function extractZipEntry(file: string, entry: ZipEntry, target: string, shownAs: string = file): Promise<void> {
  if (entry.encrypted) throw zipCorrupt(shownAs, `entry '${entry.name}' is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) throw zipCorrupt(shownAs, `entry '${entry.name}' uses compression method ${entry.method} (only stored and deflate are supported)`);
  if (entry.method === 0 && entry.compressedSize !== entry.size) throw zipCorrupt(shownAs, `stored entry '${entry.name}' declares ${entry.size} bytes but holds ${entry.compressedSize}`);
  const dataOffset = await dataOffsetOf(file, entry, shownAs);
  const check = new DeclaredSizeCheck(entry.size);
  const source = entry.compressedSize > 0 ? createReadStream(file, { start: dataOffset, end: dataOffset + entry.compressedSize - 1 }) : Readable.from([]);
  try {
    if (entry.method === 8) await pipeline(source, zlib.createInflateRaw(), check, createWriteStream(target));
    else await pipeline(source, check, createWriteStream(target));
  } catch (error) {
    if (error instanceof BeyondDeclaredSize) throw zipCorrupt(shownAs, `entry '${entry.name}' inflates to more than the ${entry.size} bytes it declares (stopped there)`);
    throw zipCorrupt(shownAs, `entry '${entry.name}' does not inflate (${(error as Error).message})`);
  }
  if (check.size !== entry.size || check.value() !== entry.crc32) {
    throw zipCorrupt(shownAs, `entry '${entry.name}' has ${check.size} bytes with CRC-32 ${check.value().toString(16)}, but the zip records ${entry.size} bytes with ${entry.crc32.toString(16)}`);
  }
}

class BeyondDeclaredSize extends Error {}

/** Counts bytes and computes their CRC-32 as they pass; a chunk that would pass the declared size is refused, not passed. */
class DeclaredSizeCheck extends Transform {
  size = 0;
  private crc = 0;
  constructor(private readonly declared: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    if (this.size + chunk.length > this.declared) return done(new BeyondDeclaredSize());
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
