/**
 * What the bake benchmarks share: a fresh registry per comparison, the bundled task run as the
 * agent runs it (time, start-up, peak RSS, model bytes read), the floor's one curl upload of a
 * file, and running two sides in alternating order.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pushBaseImage } from '../test/support/registry/baseImages';
import { startRegistry, type TestRegistry } from '../test/support/registry/registry';
import { runTask, visibleOutput } from '../test/support/taskRunner';
import { modelDigest, type FileDigest } from '../tasks/common/model/digest';
import { sha256Of } from '../tasks/common/model/fileRecord';
import { readModelEntries } from '../tasks/common/oci/modelFiles';
import { timeCommand } from './measure';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const BASE = 'bench/base:1';
const taskDir = join(__dirname, '..', 'dist', 'tasks', 'BakeModelIntoImageV1');

export type Log = (line: string) => void;

export interface TaskMeasure {
  readonly ms: number;
  /** From spawn to the task's first line of output: process start and loading the bundle. */
  readonly startMs: number;
  readonly rss: number;
  readonly bytesUploaded: number;
  readonly layers: string;
  /** Bytes the task read from the model's files. */
  readonly readBytes: number;
}

/** A fresh registry holding only the base image, stopped (and its storage removed) afterwards. */
export async function withRegistry<T>(log: Log, body: (registry: TestRegistry) => Promise<T>): Promise<T> {
  const registry = await startRegistry({ auth: 'none' });
  try {
    await pushBaseImage(registry, 'bench/base', '1', 'oci');
    log(`  (registry at ${registry.host} with base image ${BASE})`);
    return await body(registry);
  } finally {
    await registry.stop();
  }
}

/** Runs a then b, or b then a on odd rounds, so neither side always goes first. */
export async function alternate<A, B>(round: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  if (round % 2 === 0) return [await a(), await b()];
  const second = await b();
  return [await a(), second];
}

/** The model digest Fetch would output for the folder (its sorted sha256sum listing, hashed); read here, outside the task's measure. */
async function modelDigestOf(modelPath: string): Promise<string> {
  const files: FileDigest[] = [];
  for (const entry of await readModelEntries(modelPath)) if (entry.type === 'file' && entry.source) files.push({ relativePath: entry.relativePath, sha256: await sha256Of(entry.source) });
  return modelDigest(files, 'folder');
}

/** The bundled task in appendLayer mode, as the agent runs it; wall time of the whole process. `inputs` adds to or overrides the defaults. */
export async function bakeTask(registry: TestRegistry, work: string, modelPath: string, tag: string, inputs: Record<string, string> = {}): Promise<TaskMeasure> {
  const rssFile = join(work, 'rss');
  const readsFile = join(work, 'reads');
  const run = await runTask({
    taskDir,
    inputs: {
      mode: 'appendLayer', baseImage: `${registry.host}/${BASE}`, image: `${registry.host}/bench/app`, tags: tag,
      // The model's own digest, as Fetch's output gives it: Bake keys its memo by it, and keeps the
      // files' digests for the attestation only when they make it.
      modelPath, modelVersion: '1.0.0', modelDigest: await modelDigestOf(modelPath), allowInsecureRegistry: 'true',
      ...inputs,
    },
    variables: { 'System.Debug': 'false' },
    env: { NODE_OPTIONS: `--require ${join(__dirname, 'maxRss.cjs')}`, BENCH_MAX_RSS_FILE: rssFile, BENCH_READS_FILE: readsFile, BENCH_MODEL_DIR: modelPath },
    timeoutMs: 600_000,
  });
  if (run.result.status !== 'Succeeded') throw new Error(`the bake task failed: ${visibleOutput(run).slice(-2000)}`);
  const rss = Number(readFileSync(rssFile, 'utf8'));
  const readBytes = Number(readFileSync(readsFile, 'utf8'));
  rmSync(rssFile);
  rmSync(readsFile);
  return { ms: run.durationMs, startMs: run.firstLineMs ?? Number.NaN, rss, bytesUploaded: Number(run.outputs.bytesUploaded), layers: run.outputs.modelLayerDigests, readBytes };
}

/** The floor's upload: POST for a session, then PUT the whole file in one request under its digest; the time of both. */
export async function curlUpload(registry: TestRegistry, file: string, repository: string, hex: string): Promise<number> {
  const post = await timeCommand('curl', ['-sS', '-f', '-X', 'POST', '-o', '/dev/null', '-D', '-', `${registry.url}/v2/${repository}/blobs/uploads/`]);
  const location = /^location:\s*(\S+)/im.exec(post.stdout)?.[1];
  if (!location) throw new Error(`no Location in the registry's answer to POST: ${post.stdout}`);
  const session = new URL(location, registry.url).href; // the registry's _state query string, untouched
  const put = await timeCommand('curl', ['-sS', '-f', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, '-X', 'PUT',
    '-H', 'Content-Type: application/octet-stream', `${session}${session.includes('?') ? '&' : '?'}digest=sha256:${hex}`]);
  if (put.stdout !== '201') throw new Error(`the curl PUT answered ${put.stdout}, not 201`);
  return post.ms + put.ms;
}

export const sync = () => timeCommand('sync', []);
export const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
