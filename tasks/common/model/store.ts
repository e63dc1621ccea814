import type { Readable } from 'node:stream';
import type { ModelCandidate } from './layout';
import type { SelectionRule } from './select';

/** One stored object as a listing reports it. */
export interface StoredObject {
  /** The full name in the store, e.g. "churn/1.4.0/weights.bin". */
  readonly name: string;
  readonly size: number;
  /** Changes whenever the content changes; used for resume (If-Match) and the cache. */
  readonly etag: string;
  readonly lastModified: Date;
  /** Base64 MD5 of the whole object, when the store knows it. */
  readonly contentMd5?: string;
  /** The `sha256` metadata entry as published (hex, "sha256:hex" or base64), when present. */
  readonly sha256Metadata?: string;
}

/**
 * What Fetch Latest Model needs from a model store: Blob Storage, S3, pipeline artifacts and Azure
 * ML each implement it, and selection, download and verification never know which one they read.
 */
export interface ModelStore {
  /** Human-readable location without credentials, e.g. "https://acct.blob.core.windows.net/models". */
  readonly location: string;
  list(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject>;
  /** Names under the prefix whose tags match a (validated) query. */
  findByTags(query: string, prefix: string, signal: AbortSignal): AsyncIterable<string>;
  /** Streams bytes [offset, offset + count) of an object, failing if its ETag is no longer etag. */
  readRange(object: StoredObject, offset: number, count: number, signal: AbortSignal): Promise<Readable>;
  /**
   * For a store of tagged records (a registry): chooses the version itself, with selectModel so the
   * same ordering and pre-release rule apply, and lists only the chosen version's files. Fetch then
   * neither lists nor asks for tags.
   */
  chooseModel?(rule: SelectionRule, includePrereleases: boolean, signal: AbortSignal): Promise<ModelCandidate>;
  /** The object's URI without any query string or credential. */
  uriOf(name: string): string;
  /**
   * Releases what the store holds on the agent's disk. Only a store that has to stage a download
   * before it can list (a pipeline artifact is one zip) holds anything; the task entry calls it.
   */
  close?(): Promise<void>;
}
