/**
 * Deterministic tar, as reproducible-build tools write it: fixed owner (0:0, no names), fixed
 * mtime, fixed modes, and PAX extended headers for names over 100 bytes and files of 8 GiB or more.
 * A layer is a list of segments (header bytes, file ranges, padding) so its bytes can be streamed
 * from any offset: an interrupted upload resumes without reading what was already sent.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { modelRefused } from './modelFiles';

export interface TarEntry {
  /** Path inside the image without a leading '/'; directories end with '/'. */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  readonly size: number;
  /** Absolute path of the file's bytes on disk (files only). */
  readonly source?: string;
  readonly linkTarget?: string;
}

/** Either literal bytes or a byte range of a file on disk. */
export type Segment =
  | { readonly kind: 'bytes'; readonly data: Buffer }
  | { readonly kind: 'file'; readonly path: string; readonly size: number };

const BLOCK = 512;
const USTAR_MAX_SIZE = 0o77777777777; // 11 octal digits: 8 GiB - 1
const TYPE_FLAG = { file: '0', symlink: '2', directory: '5' } as const;

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  header.write(value, offset, Math.min(length, Buffer.byteLength(value)), 'utf8');
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function ustarHeader(name: string, type: string, mode: number, size: number, mtime: number, linkName = ''): Buffer {
  const header = Buffer.alloc(BLOCK);
  writeString(header, 0, 100, name);
  writeOctal(header, 100, 8, mode);
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, mtime);
  header.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  writeString(header, 156, 1, type);
  writeString(header, 157, 100, linkName);
  writeString(header, 257, 6, 'ustar\0');
  writeString(header, 263, 2, '00');
  writeOctal(header, 329, 8, 0); // devmajor
  writeOctal(header, 337, 8, 0); // devminor
  let sum = 0;
  for (const byte of header) sum += byte;
  writeString(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** One PAX record: "<length> <key>=<value>\n", where length counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + String(bodyLength).length;
  // Adding the length's own digits can add a digit (e.g. 98 + 2 = 100).
  if (String(length).length !== String(bodyLength).length) length = bodyLength + String(length).length;
  return `${length}${body}`;
}

function padding(size: number): Buffer {
  const remainder = size % BLOCK;
  return Buffer.alloc(remainder === 0 ? 0 : BLOCK - remainder);
}

/** The header block(s) of one entry: a PAX 'x' header first when ustar cannot hold the name or size. */
export function entryHeader(entry: TarEntry, mtime: number): Buffer {
  const records: string[] = [];
  if (Buffer.byteLength(entry.path) > 100) records.push(paxRecord('path', entry.path));
  if (entry.linkTarget !== undefined && Buffer.byteLength(entry.linkTarget) > 100) records.push(paxRecord('linkpath', entry.linkTarget));
  if (entry.size > USTAR_MAX_SIZE) records.push(paxRecord('size', String(entry.size)));
  const ustarSize = entry.size > USTAR_MAX_SIZE ? 0 : entry.size;
  const shortName = Buffer.from(entry.path).subarray(0, 100).toString('utf8');
  const shortLink = entry.linkTarget ? Buffer.from(entry.linkTarget).subarray(0, 100).toString('utf8') : '';
  const header = ustarHeader(shortName, TYPE_FLAG[entry.type], entry.mode, ustarSize, mtime, shortLink);
  if (records.length === 0) return header;
  const pax = Buffer.from(records.join(''));
  // A fixed name for the PAX header keeps output identical across machines (GNU tar uses a PID).
  const paxHeader = ustarHeader('PaxHeaders/entry', 'x', 0o644, pax.length, mtime);
  return Buffer.concat([paxHeader, pax, padding(pax.length), header]);
}

/** The whole archive as segments; entries must already be in their final order. */
export function tarSegments(entries: readonly TarEntry[], mtime: number): readonly Segment[] {
  const segments: Segment[] = [];
  for (const entry of entries) {
    segments.push({ kind: 'bytes', data: entryHeader(entry, mtime) });
    if (entry.type === 'file' && entry.size > 0) {
      segments.push({ kind: 'file', path: entry.source!, size: entry.size });
      const pad = padding(entry.size);
      if (pad.length > 0) segments.push({ kind: 'bytes', data: pad });
    }
  }
  segments.push({ kind: 'bytes', data: Buffer.alloc(2 * BLOCK) }); // end-of-archive marker
  return segments;
}

export function segmentsSize(segments: readonly Segment[]): number {
  return segments.reduce((total, segment) => total + (segment.kind === 'bytes' ? segment.data.length : segment.size), 0);
}

/** How much a read of a model file asks for at a time. */
export const READ_CHUNK = 1024 * 1024;

async function* segmentBytes(segments: readonly Segment[], offset: number, end: number): AsyncGenerator<Buffer> {
  let skip = offset;
  let left = end - offset;
  for (const segment of segments) {
    if (left <= 0) return;
    const length = segment.kind === 'bytes' ? segment.data.length : segment.size;
    if (skip >= length) {
      skip -= length;
      continue;
    }
    const upTo = Math.min(length, skip + left);
    if (segment.kind === 'bytes') {
      yield segment.data.subarray(skip, upTo);
    } else {
      let read = 0;
      for await (const chunk of createReadStream(segment.path, { start: skip, end: upTo - 1, highWaterMark: READ_CHUNK })) {
        read += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      // A file that shrank since it was planned would corrupt the archive and its digest.
      if (read !== upTo - skip) throw modelRefused('ModelFileChanged', [segment.path]);
    }
    left -= upTo - skip;
    skip = 0;
  }
}

/** The archive's bytes from offset to `end` (exclusive; default its end): nothing past `end` is read. */
export function openSegments(segments: readonly Segment[], offset = 0, end = Number.POSITIVE_INFINITY): Readable {
  return Readable.from(segmentBytes(segments, offset, end), { objectMode: false });
}
