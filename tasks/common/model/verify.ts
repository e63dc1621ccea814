import { IntegrityError } from '../errors';
import type { DownloadedFile } from './download';
import type { StoredObject } from './store';

/** The `sha256` metadata entry as hex: accepts hex, "sha256:<hex>" or base64 of the 32 bytes. */
export function sha256FromMetadata(value: string, name: string): string {
  const text = value.trim().replace(/^sha256:/i, '');
  if (/^[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase();
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64').toString('hex');
  throw new IntegrityError('Sha256MetadataMalformed', [name, value]);
}

/**
 * Compares what arrived with what the store promised. Sizes are always checked. With integrity
 * checking on, the strongest published digest is checked: the sha256 metadata entry, or else the
 * blob's Content-MD5 (the downloader computes MD5 only when no sha256 is published).
 */
export function verifyDownload(object: StoredObject, file: DownloadedFile, checkDigests: boolean): void {
  if (file.size !== object.size) throw new IntegrityError('IntegrityMismatch', [object.name, 'size', object.size, file.size]);
  if (!checkDigests) return;
  if (object.contentMd5 && object.sha256Metadata === undefined && object.contentMd5 !== file.md5) {
    throw new IntegrityError('IntegrityMismatch', [object.name, 'Content-MD5', object.contentMd5, file.md5]);
  }
  if (object.sha256Metadata !== undefined) {
    const expected = sha256FromMetadata(object.sha256Metadata, object.name);
    if (expected !== file.sha256) throw new IntegrityError('IntegrityMismatch', [object.name, 'sha256', expected, file.sha256]);
  }
}
