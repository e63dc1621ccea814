/**
 * What the store integration tests share: fetch options sized for tests, the files a version
 * folder holds, the folder-digest listing, and the check that a folder holds exactly a model.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FetchOptions } from '../../tasks/common/model/fetch';
import type { SelectionRule } from '../../tasks/common/model/select';
import { randomBytes, sha256 } from './modelStore';

const MiB = 1024 * 1024;

export const quietProgress = { start() {}, advance() {}, finish() {} };

/** Options for fetchLatestModel into `<work>/model`: 1 MiB blocks, 4 connections, short retries. */
export function testFetchOptions(work: string, overrides: Partial<FetchOptions> = {}): FetchOptions {
  return {
    prefix: 'churn/',
    rule: { kind: 'highestVersion' },
    destination: join(work, 'model'),
    verifyIntegrity: true,
    download: { concurrency: 4, blockSize: MiB, retries: 3, idleTimeoutMs: 10_000, retryDelayMs: 50 },
    timeoutMs: 30_000,
    ...overrides,
  };
}

/** The files published under `prefix`, by their path relative to it. */
export function filesUnder(published: Record<string, Buffer>, prefix: string): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(published).filter(([name]) => name.startsWith(prefix)).map(([name, data]) => [name.slice(prefix.length), data]));
}

/** The sha256sum-format listing a folder model's digest is the sha256 of. */
export function digestListing(files: Record<string, Buffer>): string {
  return Object.entries(files).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map(([path, data]) => `${sha256(data)}  ${path}\n`).join('');
}

export function assertHolds(folder: string, expected: Record<string, Buffer>): void {
  const found = readdirSync(folder, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(folder.length + 1)).sort();
  assert.deepEqual(found, Object.keys(expected).sort(), 'the folder holds exactly the model files');
  for (const [relative, data] of Object.entries(expected)) assert.ok(readFileSync(join(folder, relative)).equals(data), `${relative} is byte-identical`);
}

export type Publish = (name: string, data: Buffer, tags?: Record<string, string>) => Promise<void>;

/**
 * The model layout every path store is tested with: folder versions of churn (nested paths, tags,
 * an unversioned name, one version published a second later) and single-file versions of fraud.
 */
export async function publishTestModels(publish: Publish, weights: Buffer): Promise<void> {
  await publish('churn/1.9.3/model.bin', randomBytes(1000), { stage: 'production' });
  await publish('churn/1.9.3/tokenizer/vocab/words.txt', Buffer.from('a\nb\n'), { stage: 'production' });
  await publish('churn/1.10.0/model.bin', weights, { stage: 'staging' });
  await publish('churn/1.10.0/tokenizer/vocab/words.txt', Buffer.from('a\nb\nc\n'));
  await publish('churn/README.md', Buffer.from('not a model'));
  await new Promise((resolve) => setTimeout(resolve, 1100)); // Azurite's and s3rver's last-modified times have one-second resolution
  await publish('churn/1.2.0/model.bin', randomBytes(300));
  await publish('fraud/fraud-2.0.0.onnx', randomBytes(2 * MiB + 5));
  await publish('fraud/fraud-2.0.0-rc.1.onnx', randomBytes(10));
  await publish('fraud/fraud-1.0.0.onnx', randomBytes(10));
}

/** What each selection rule picks among the churn versions publishTestModels publishes. */
export const SELECTION_CASES: readonly [SelectionRule, string][] = [
  [{ kind: 'highestVersion' }, '1.10.0'],
  [{ kind: 'newest' }, '1.2.0'],
  [{ kind: 'tagQuery', query: `"stage" = 'production'` }, '1.9.3'],
  [{ kind: 'pinned', version: 'v1.9.3' }, '1.9.3'],
];
