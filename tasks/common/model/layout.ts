import type { StoredObject } from './store';
import { versionInName, type Version } from './version';

export interface ModelFile {
  readonly object: StoredObject;
  /** Path relative to the model folder; checked for safety only once the model is chosen. */
  readonly relativePath: string;
}

/** One published version of the model: a folder of blobs, or a single blob. */
export interface ModelCandidate {
  readonly version: Version;
  readonly layout: 'folder' | 'file';
  /** The version folder ("churn/1.4.0/") or the blob name ("churn/model-1.4.0.onnx"). */
  readonly name: string;
  readonly files: readonly ModelFile[];
  readonly lastModified: Date;
  readonly size: number;
}

export interface Listing {
  readonly candidates: readonly ModelCandidate[];
  /** Names under the prefix that carry no version, kept so "nothing found" errors can show them. */
  readonly ignored: readonly string[];
}

/**
 * Groups a listing under a prefix into versions. Directly under the prefix, a blob whose name
 * carries a version is a single-file model; a folder whose name carries a version is a folder model
 * holding every blob beneath it, nested paths included.
 */
export function groupByVersion(prefix: string, objects: Iterable<StoredObject>): Listing {
  const folders = new Map<string, { version: Version; files: ModelFile[] }>();
  const singles: ModelCandidate[] = [];
  const ignored: string[] = [];
  for (const object of objects) {
    const remainder = object.name.slice(prefix.length).replace(/^\/+/, '');
    const slash = remainder.indexOf('/');
    if (slash < 0) {
      const version = versionInName(remainder, { isFile: true });
      if (version) singles.push(candidate(version, 'file', object.name, [{ object, relativePath: baseName(object.name) }]));
      else ignored.push(object.name);
      continue;
    }
    const folderName = remainder.slice(0, slash);
    const version = versionInName(folderName, { isFile: false });
    if (!version) {
      ignored.push(object.name);
      continue;
    }
    const folder = object.name.slice(0, object.name.length - remainder.length + slash + 1);
    const entry = folders.get(folder) ?? { version, files: [] };
    entry.files.push({ object, relativePath: remainder.slice(slash + 1) });
    folders.set(folder, entry);
  }
  const folderCandidates = [...folders].map(([name, { version, files }]) => candidate(version, 'folder', name, files));
  return { candidates: [...folderCandidates, ...singles], ignored };
}

function candidate(version: Version, layout: 'folder' | 'file', name: string, files: ModelFile[]): ModelCandidate {
  // A loop, not Math.max(...times): a spread of 150,000 arguments overflows the stack.
  let lastModified = 0;
  let size = 0;
  for (const file of files) {
    lastModified = Math.max(lastModified, file.object.lastModified.getTime());
    size += file.object.size;
  }
  return Object.freeze({ version, layout, name, files: Object.freeze(sortedByPath(files)), lastModified: new Date(lastModified), size });
}

/** Byte-wise order by relative path, each path encoded once rather than once per comparison. */
function sortedByPath(files: readonly ModelFile[]): ModelFile[] {
  const keyed = files.map((file) => ({ file, key: Buffer.from(file.relativePath, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((entry) => entry.file);
}

export function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/**
 * A version known only by its record (a registry tag, an MLflow version): one marker file named
 * after it, so selectModel can choose among records before any of their files are listed.
 */
export function recordCandidate(version: Version, folder: string, lastModified: Date): ModelCandidate {
  const marker = { name: folder, size: 0, etag: folder, lastModified };
  return { version, layout: 'folder', name: folder, files: [{ object: marker, relativePath: '' }], lastModified, size: 0 };
}
