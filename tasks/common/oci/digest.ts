/**
 * Content digests: which strings a peer may send as one, and checking bytes against them. What is
 * fetched by digest is hashed and compared here before anything uses it.
 */
import { createHash, type Hash } from 'node:crypto';
import { IntegrityError } from '../errors';
import type { MessageKey } from '../messages';

/** The algorithms the OCI image spec registers, with the length of their hex encoding. */
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Whether a peer's value is a digest we can check: sha256 or sha512, lower-case hex, nothing else. */
export function isContentDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/** A hash of the algorithm `digest` names. */
export function hasherFor(digest: string): Hash {
  return createHash(digest.startsWith('sha512:') ? 'sha512' : 'sha256');
}

export function finishDigest(digest: string, hash: Hash): string {
  return `${digest.split(':', 1)[0]}:${hash.digest('hex')}`;
}

/** The digest of `bytes` in the algorithm `like` uses. */
export function digestLike(like: string, bytes: Buffer): string {
  return finishDigest(like, hasherFor(like).update(bytes));
}

/** What a mismatch is reported as: the key says which kind of content; the image names where it came from. */
export interface DigestCheck {
  readonly key: Extract<MessageKey, 'ManifestDigestMismatch' | 'ConfigDigestMismatch' | 'LayerDigestMismatch' | 'ModelLayerDigestMismatch'>;
  /** registry/repository (with the tag or digest asked for, when there is one). */
  readonly image: string;
}

/** Throws an IntegrityError naming the image and both digests when `actual` is not `expected`. */
export function assertDigest(check: DigestCheck, expected: string, actual: string): void {
  if (actual !== expected) throw new IntegrityError(check.key, [check.image, expected, actual]);
}

/** A peer's value for a message: quoted, control characters escaped by JSON, cut short. */
export function peerValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);
}
