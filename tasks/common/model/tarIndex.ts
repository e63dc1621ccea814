/**
 * Lists the entries of an uncompressed tar file on disk without extracting it: each regular file's
 * name and the byte range of its content, so a store can serve ranged reads straight from the tar.
 * Reads ustar headers, PAX extended headers (path, size) and GNU long names. Names come from a
 * peer: they are only data here; fetch checks them before any reaches the disk.
 */
import { open } from 'node:fs/promises';
import { TaskError } from '../errors';

export interface TarIndexEntry {
  /** As stored, without a leading './' or '/'. */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  /** Where the content starts in the tar file. */
  readonly offset: number;
  readonly size: number;
}

const BLOCK = 512;

function text(header: Buffer, start: number, length: number): string {
  const field = header.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(header: Buffer, start: number, length: number, where: string): number {
  const field = header.subarray(start, start + length);
  // GNU base-256 for sizes of 8 GiB and more.
  if (field[0] & 0x80) return field.subarray(1).reduce((value, byte) => value * 256 + byte, field[0] & 0x7f);
  const digits = text(header, start, length).trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw new TaskError('TarLayerInvalid', [where, `a header field holds '${digits.slice(0, 20)}', not an octal number`]);
  return parseInt(digits, 8);
}

function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  for (const line of data.toString('utf8').split('\n')) {
    const match = /^\d+ ([^=]+)=(.*)$/s.exec(line);
    if (match) records.set(match[1], match[2]);
  }
  return records;
}

const TYPES: Readonly<Record<string, TarIndexEntry['type']>> = { '0': 'file', '\0': 'file', '': 'file', '7': 'file', '5': 'directory', '2': 'symlink', '1': 'hardlink' };

/** Every entry of the tar at `file`; `where` names the layer in errors. */
export async function indexTar(file: string, where: string): Promise<TarIndexEntry[]> {
  const handle = await open(file, 'r');
  try {
    const { size: total } = await handle.stat();
    const entries: TarIndexEntry[] = [];
    const header = Buffer.alloc(BLOCK);
    let position = 0;
    let longName: string | undefined;
    let pax = new Map<string, string>();
    while (position + BLOCK <= total) {
      await handle.read(header, 0, BLOCK, position);
      if (header.every((byte) => byte === 0)) break;
      checkSum(header, where);
      const flag = String.fromCharCode(header[156]);
      const size = pax.has('size') ? Number(pax.get('size')) : octal(header, 124, 12, where);
      if (!Number.isSafeInteger(size) || size < 0 || position + BLOCK + size > total) throw new TaskError('TarLayerInvalid', [where, `an entry's size ${size} runs past the end of the layer`]);
      const content = position + BLOCK;
      position = content + Math.ceil(size / BLOCK) * BLOCK;
      if (flag === 'x' || flag === 'L') {
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, content);
        if (flag === 'x') pax = paxRecords(data);
        else longName = data.toString('utf8').replace(/\0+$/, '');
        continue;
      }
      if (flag === 'g') continue;
      const prefix = text(header, 345, 155);
      const name = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
      entries.push({ path: name.replace(/^(\.\/|\/)+/, ''), type: TYPES[flag] ?? 'other', offset: content, size });
      longName = undefined;
      pax = new Map();
    }
    return entries;
  } finally {
    await handle.close();
  }
}

function checkSum(header: Buffer, where: string): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
  if (sum !== octal(header, 148, 8, where)) throw new TaskError('TarLayerInvalid', [where, 'a header checksum does not match']);
}
