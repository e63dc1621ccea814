/**
 * The central directory of a zip (ZIP64 included), read from a peer's file that may lie about
 * anything: every offset, length and count is checked against the file and against fixed limits
 * before memory is spent on it, and a malformed directory fails as ZipCorrupt, never as a
 * RangeError or a hang. Entry names are checked too (see entryNameProblem), so no caller ever
 * sees a name that climbs out of a folder, holds control characters or an agent command.
 */
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

/** Random access to the zip's bytes; a read past the end returns fewer bytes. */
export interface ZipSource {
  /** How the zip is named in messages. */
  readonly name: string;
  readonly size: number;
  read(position: number, length: number): Promise<Buffer>;
}

export interface ZipLimits {
  readonly maxEntries: number;
  /** The central directory is read whole: this bounds that read. */
  readonly maxDirectoryBytes: number;
}

/** 200,000 entries of about 300 bytes each: far beyond a model, far below the agent's memory. */
export const ZIP_LIMITS: ZipLimits = Object.freeze({ maxEntries: 200_000, maxDirectoryBytes: 64 * 1024 * 1024 });

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const MAX_COMMENT = 0xffff;

export function zipCorrupt(zip: string, why: string): RemoteError {
  return new RemoteError('ZipCorrupt', [zip, why]);
}

interface Directory {
  readonly offset: number;
  readonly size: number;
  readonly count: number;
}

/** Every entry of the zip, in directory order, once the directory and every name check out. */
export async function readZipDirectory(source: ZipSource, limits: ZipLimits = ZIP_LIMITS): Promise<ZipEntry[]> {
  const directory = await locateDirectory(source, limits);
  const buffer = await source.read(directory.offset, directory.size);
  if (buffer.length !== directory.size) throw zipCorrupt(source.name, 'the central directory is cut short');
  const entries = parseCentralDirectory(buffer, directory, source.name);
  checkNames(entries, source.name);
  return entries;
}

/** A 64-bit field as a number, refused when it is beyond what a file on disk can hold. */
function safeNumber(value: bigint, zip: string, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw zipCorrupt(zip, `${what} is impossibly large`);
  return Number(value);
}

/** The end-of-central-directory record, and its ZIP64 twin when the zip needs one; checked against the file and the limits. */
async function locateDirectory(source: ZipSource, limits: ZipLimits): Promise<Directory> {
  const tailStart = Math.max(0, source.size - (EOCD_SIZE + MAX_COMMENT));
  const tail = await source.read(tailStart, source.size - tailStart);
  let at = tail.length - EOCD_SIZE;
  // The record is the last signature whose comment ends within the file (a comment may hold the signature too).
  while (at >= 0 && !(tail.readUInt32LE(at) === EOCD && at + EOCD_SIZE + tail.readUInt16LE(at + 20) <= tail.length)) at--;
  if (at < 0) throw zipCorrupt(source.name, 'no end of central directory (the download is incomplete or not a zip)');
  const onDisk = tail.readUInt16LE(at + 8);
  let directory: Directory = { count: tail.readUInt16LE(at + 10), size: tail.readUInt32LE(at + 12), offset: tail.readUInt32LE(at + 16) };
  let end = tailStart + at;
  if (directory.count === 0xffff || directory.size === 0xffffffff || directory.offset === 0xffffffff) {
    ({ directory, end } = await zip64Directory(source, end));
  } else if (onDisk !== directory.count || tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0) {
    throw zipCorrupt(source.name, 'it spans several disks, or its entry counts disagree');
  }
  return checkedDirectory(directory, end, source.name, limits);
}

async function zip64Directory(source: ZipSource, eocdAt: number): Promise<{ directory: Directory; end: number }> {
  const locatorAt = eocdAt - 20;
  const locator = locatorAt >= 0 ? await source.read(locatorAt, 20) : Buffer.alloc(0);
  if (locator.length < 20 || locator.readUInt32LE(0) !== ZIP64_LOCATOR) throw zipCorrupt(source.name, 'ZIP64 locator missing');
  const recordAt = safeNumber(locator.readBigUInt64LE(8), source.name, 'the ZIP64 record offset');
  if (recordAt + 56 > locatorAt) throw zipCorrupt(source.name, 'the ZIP64 end of central directory lies outside the file');
  const record = await source.read(recordAt, 56);
  if (record.length < 56 || record.readUInt32LE(0) !== ZIP64_EOCD) throw zipCorrupt(source.name, 'ZIP64 end of central directory missing');
  const count = safeNumber(record.readBigUInt64LE(32), source.name, 'the ZIP64 entry count');
  if (safeNumber(record.readBigUInt64LE(24), source.name, 'the ZIP64 entry count') !== count) throw zipCorrupt(source.name, 'its entry counts disagree');
  const directory = { count, size: safeNumber(record.readBigUInt64LE(40), source.name, 'the central directory size'), offset: safeNumber(record.readBigUInt64LE(48), source.name, 'the central directory offset') };
  return { directory, end: recordAt };
}

/** A directory that fits before its end record, within the limits, and can hold as many entries as it claims. */
function checkedDirectory(directory: Directory, end: number, zip: string, limits: ZipLimits): Directory {
  if (directory.offset + directory.size > end) throw zipCorrupt(zip, 'the central directory lies beyond the end of the file');
  if (directory.count > limits.maxEntries) throw zipCorrupt(zip, `it claims ${directory.count} entries, more than the ${limits.maxEntries} allowed`);
  if (directory.size > limits.maxDirectoryBytes) throw zipCorrupt(zip, `its central directory is ${directory.size} bytes, more than the ${limits.maxDirectoryBytes} allowed`);
  if (directory.count * CENTRAL_SIZE > directory.size) {
    throw zipCorrupt(zip, `it claims ${directory.count} entries, but its central directory of ${directory.size} bytes holds at most ${Math.floor(directory.size / CENTRAL_SIZE)}`);
  }
  return directory;
}

/** The entries of a central directory read whole; `directory.count` must be exactly what it holds. */
export function parseCentralDirectory(buffer: Buffer, directory: Directory, zip: string): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let index = 0; index < directory.count; index++) {
    if (at + CENTRAL_SIZE > buffer.length) throw zipCorrupt(zip, `its central directory ends after ${index} of the ${directory.count} entries it claims`);
    if (buffer.readUInt32LE(at) !== CENTRAL) throw zipCorrupt(zip, `central directory entry ${index} has a bad signature`);
    const entry = parseCentralEntry(buffer, at, zip);
    if (entry.value.localHeaderOffset + 30 + entry.value.compressedSize > directory.offset) throw zipCorrupt(zip, `entry ${index}'s data lies outside the file`);
    entries.push(entry.value);
    at = entry.next;
  }
  if (at !== buffer.length) throw zipCorrupt(zip, `its central directory holds more than the ${directory.count} entries it claims`);
  return entries;
}

function parseCentralEntry(buffer: Buffer, at: number, zip: string): { value: ZipEntry; next: number } {
  const flags = buffer.readUInt16LE(at + 8);
  const nameLength = buffer.readUInt16LE(at + 28);
  const extraLength = buffer.readUInt16LE(at + 30);
  const next = at + CENTRAL_SIZE + nameLength + extraLength + buffer.readUInt16LE(at + 32);
  if (next > buffer.length) throw zipCorrupt(zip, 'a central directory entry runs past the directory\'s end');
  const nameEnd = at + CENTRAL_SIZE + nameLength;
  // Bit 11: UTF-8 name. Other non-ASCII names (old tools' code page 437) are read as Latin-1.
  const name = buffer.toString(flags & 0x800 ? 'utf8' : 'latin1', at + CENTRAL_SIZE, nameEnd);
  const sizes = zip64Sizes(buffer.subarray(nameEnd, nameEnd + extraLength), {
    size: buffer.readUInt32LE(at + 24),
    compressedSize: buffer.readUInt32LE(at + 20),
    localHeaderOffset: buffer.readUInt32LE(at + 42),
  }, zip);
  const value = Object.freeze({ name, isDirectory: name.endsWith('/'), method: buffer.readUInt16LE(at + 10), crc32: buffer.readUInt32LE(at + 16), encrypted: (flags & 1) === 1, ...sizes });
  return { value, next };
}

type Sizes = { size: number; compressedSize: number; localHeaderOffset: number };

/** ZIP64 extra field (id 1): 8-byte values, in this order, for each 32-bit field that is 0xFFFFFFFF. */
function zip64Sizes(extra: Buffer, sizes: Sizes, zip: string): Sizes {
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(at);
    const end = Math.min(extra.length, at + 4 + extra.readUInt16LE(at + 2));
    if (id === 1) {
      const result = { ...sizes };
      let field = at + 4;
      for (const key of ['size', 'compressedSize', 'localHeaderOffset'] as const) {
        if (sizes[key] === 0xffffffff && field + 8 <= end) {
          result[key] = safeNumber(extra.readBigUInt64LE(field), zip, `an entry's ${key}`);
          field += 8;
        }
      }
      return result;
    }
    at = end;
  }
  return sizes;
}

/** Why an entry name is refused, or undefined when it is a plain relative path. */
export function entryNameProblem(name: string): string | undefined {
  if (name === '' || name === '/') return 'it is empty';
  if (name.includes('\0')) return 'it holds a NUL character';
  if (/[\x01-\x1f\x7f\u0085\u2028\u2029]/.test(name)) return 'it holds control characters or line breaks';
  if (/##(vso)?\[/i.test(name)) return 'it holds an agent command (##vso[ or ##[)';
  if (name.includes('\\')) return 'it holds a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'it is an absolute path';
  const segments = name.replace(/\/$/, '').split('/');
  if (segments.includes('..')) return "it climbs out of its folder ('..')";
  if (segments.some((segment) => segment === '' || segment === '.')) return "it has an empty or '.' path segment";
  return undefined;
}

/** Refuses the whole zip when one name is unsafe, or when two entries share a name. */
function checkNames(entries: readonly ZipEntry[], zip: string): void {
  const seen = new Set<string>();
  for (const { name } of entries) {
    const problem = entryNameProblem(name) ?? (seen.has(name) ? 'two entries have that name' : undefined);
    if (problem) throw new RemoteError('ZipEntryNameRefused', [zip, JSON.stringify(name.slice(0, 200)), problem]);
    seen.add(name);
  }
}
