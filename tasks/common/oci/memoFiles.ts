/**
 * The model files' sha256 a bake memo keeps (its config blob), so a re-bake's attestation lists
 * each file's digest without reading the model. Read back from the registry they are a peer's
 * claim: they count only when they make the model digest the user gave, exactly (model/digest.ts),
 * and name exactly this model's files. A memo with the empty config (older bakes) keeps none.
 */
import { compareBytes } from '../bytes';
import { modelDigest } from '../model/digest';
import { blobOf, type Blob } from './image';

export const MEMO_FILES_MEDIA_TYPE = 'application/vnd.ai-model-bake.memo.files.v1+json';
/** The OCI empty config ({}), as artifacts without a config of their own use (and memos without file digests). */
export const EMPTY_CONFIG = blobOf('application/vnd.oci.empty.v1+json', {});

/** Model files' sha256 (hex) by their path inside the model folder. */
export type FileDigests = ReadonlyMap<string, string>;

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Whether the digests make `model`: a folder's listing digest, or a single file's own. */
export function makesModel(files: FileDigests, model: string): boolean {
  const listed = [...files].map(([relativePath, sha256]) => ({ relativePath, sha256 }));
  return modelDigest(listed, 'folder') === model || (listed.length === 1 && modelDigest(listed, 'file') === model);
}

/** The memo's config: the file digests, sorted by path, or the empty config when there are none. */
export function memoConfig(files: FileDigests | undefined): Blob {
  if (!files) return EMPTY_CONFIG;
  const sorted = [...files].sort(([a], [b]) => compareBytes(a, b));
  return blobOf(MEMO_FILES_MEDIA_TYPE, { files: Object.fromEntries(sorted) });
}

/** The file digests of a memo config read back (its digest checked already), or why they cannot be used. */
export function memoFileDigests(bytes: Buffer, model: string, modelFiles: readonly string[]): { files: FileDigests } | { why: string } {
  let json: { files?: unknown };
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { why: 'its file digests are not JSON' };
  }
  const listed = json?.files;
  if (typeof listed !== 'object' || listed === null || Array.isArray(listed)) return { why: 'its file digests are malformed' };
  const files = new Map(Object.entries(listed as Record<string, unknown>));
  if (![...files.values()].every((sha256) => typeof sha256 === 'string' && HEX_SHA256.test(sha256))) return { why: 'its file digests are malformed' };
  const names = new Set(modelFiles);
  if (files.size !== names.size || ![...files.keys()].every((name) => names.has(name))) return { why: "its file digests name other files than this model's" };
  if (!makesModel(files as FileDigests, model)) return { why: `its file digests do not make model ${model}` };
  return { files: files as FileDigests };
}
