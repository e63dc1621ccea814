/**
 * Fetch benchmarks, side by side in one run: the whole bundled task against one curl GET and the
 * SDK's plain sequential download() of the same blob, through a proxy that caps every connection at
 * 40 MB/s (a link one connection cannot fill), and on plain loopback; and 1 GiB cache hits.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { blobSasUrl, startAzurite, type Azurite } from '../test/support/azurite';
import { startTcpProxy } from '../test/support/tcpProxy';
import { runTask, visibleOutput } from '../test/support/taskRunner';
import { median, ratioRow, timeCommand, type Row } from './measure';

const MiB = 1024 * 1024;
const LINK_CAP = 40_000_000; // bytes per second, per connection
const taskDir = join(__dirname, '..', 'dist', 'tasks', 'FetchLatestModelV1');
/**
 * Another build's FetchLatestModelV1 folder (say main's dist/tasks/FetchLatestModelV1): the 256 MiB
 * rows run it in turn with this build, so "not slower than before" is measured side by side.
 */
const beforeTaskDir = process.env.BENCH_FETCH_BEFORE;

interface Contenders {
  curlMs(blob: string): Promise<number>;
  sdkMs(blob: string): Promise<number>;
  task(prefix: string, extra?: Record<string, string>, options?: { keep?: boolean }): Promise<{ ms: number; firstLineMs: number; rss: number }>;
}

export async function benchFetch(log: (line: string) => void): Promise<Row[]> {
  const work = mkdtempSync(join(tmpdir(), 'bench-fetch-'));
  const azurite = await startAzurite({ location: join(work, 'azurite') });
  const proxy = await startTcpProxy({ targetPort: azurite.port, bytesPerSecondPerConnection: LINK_CAP });
  const rows: Row[] = [];
  try {
    for (const size of [256, 1024]) await publishModel(azurite, work, size, log);
    const throttled = contenders(azurite, work, proxy.port);
    const loopback = contenders(azurite, work, azurite.port);
    const throttledBefore = beforeTaskDir ? contenders(azurite, work, proxy.port, beforeTaskDir) : undefined;
    const loopbackBefore = beforeTaskDir ? contenders(azurite, work, azurite.port, beforeTaskDir) : undefined;
    log(`fetch 256 MiB through the 40 MB/s-per-connection proxy: curl, SDK sequential, task${beforeTaskDir ? ', the build before' : ''}, alternating, ${ROUNDS} rounds`);
    const slow = await alternate(ROUNDS, {
      curl: () => throttled.curlMs(blobName(256)),
      sdk: () => throttled.sdkMs(blobName(256)),
      task: () => throttled.task('m256/'),
      ...(throttledBefore ? { before: async () => (await throttledBefore.task('m256/')).ms } : {}),
    });
    const slowTask = slow.task.map((run) => run.ms);
    rows.push(spreadRatioRow('fetch 256 MiB @40MB/s/conn: task vs curl', slow.curl, slowTask, 3.5));
    rows.push(spreadRatioRow('fetch 256 MiB @40MB/s/conn: task vs SDK sequential', slow.sdk, slowTask, 3));
    if (slow.before) rows.push({ ...spreadRatioRow('fetch 256 MiB @40MB/s/conn: task vs the build before', slow.before, slowTask, 0), target: '(reference)' });
    const rss256 = Math.max(...slow.task.map((run) => run.rss));
    rows.push({ name: 'fetch 256 MiB: task peak RSS', value: `${(rss256 / MiB).toFixed(0)} MB`, target: '< 300 MB', pass: rss256 < 300 * MiB });
    log('fetch 1024 MiB through the 40 MB/s-per-connection proxy: curl, SDK sequential, task');
    const curl = await throttled.curlMs(blobName(1024));
    const sdk = await throttled.sdkMs(blobName(1024));
    const task = await throttled.task('m1024/');
    rows.push(ratioRow('fetch 1024 MiB @40MB/s/conn: task vs curl', curl / task.ms, 3));
    rows.push(ratioRow('fetch 1024 MiB @40MB/s/conn: task vs SDK sequential', sdk / task.ms, 3));
    rows.push({ name: 'fetch 1024 MiB: task peak RSS', value: `${(task.rss / MiB).toFixed(0)} MB`, target: '< 300 MB', pass: task.rss < 300 * MiB });
    log(`fetch 256 MiB on plain loopback: curl, SDK sequential, task${beforeTaskDir ? ', the build before' : ''}, alternating, ${ROUNDS} rounds`);
    const fast = await alternate(ROUNDS, {
      curl: () => loopback.curlMs(blobName(256)),
      sdk: () => loopback.sdkMs(blobName(256)),
      task: async () => (await loopback.task('m256/')).ms,
      ...(loopbackBefore ? { before: async () => (await loopbackBefore.task('m256/')).ms } : {}),
    });
    rows.push(spreadRatioRow('fetch 256 MiB loopback: task vs SDK sequential', fast.sdk, fast.task, 1));
    // Not slower than before, within the noise of a shared machine.
    if (fast.before) rows.push(spreadRatioRow('fetch 256 MiB loopback: task vs the build before', fast.before, fast.task, 0.95));
    rows.push({ ...spreadRatioRow('fetch 256 MiB loopback: task vs curl', fast.curl, fast.task, 0), target: '(reference)' });
    log(`cache hits on the 1 GiB model, ${ROUNDS} of each: into an empty destination (hard links), and into one that holds it already`);
    const cacheDirectory = join(work, 'cache');
    await loopback.task('m1024/', { cacheDirectory });
    const hits = await alternate(ROUNDS, {
      linked: () => loopback.task('m1024/', { cacheDirectory }, { keep: true }),
      held: () => loopback.task('m1024/', { cacheDirectory }),
    });
    for (const [what, runs] of [['into an empty destination', hits.linked], ['destination holds it', hits.held]] as const) {
      const ms = median(runs.map((run) => run.ms));
      rows.push({ name: `fetch 1 GiB cache hit, ${what}: whole task`, value: `${seconds(ms)} (${range(runs.map((run) => run.ms), seconds)})`, target: '< 0.4 s', pass: ms < 400 });
    }
    const startUp = hits.held.map((run) => run.firstLineMs);
    rows.push({ name: 'fetch 1 GiB cache hit: spawn to first line', value: `${seconds(median(startUp))} (${range(startUp, seconds)})`, target: '(reference)', pass: true });
  } finally {
    await proxy.close();
    await azurite.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

const blobName = (size: number) => `m${size}/model-1.0.0.bin`;
/** Rounds of the rows measured alternately: the machine is shared, so each row reports its median and range. */
const ROUNDS = 3;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const range = (values: readonly number[], format: (value: number) => string) => `${format(Math.min(...values))}-${format(Math.max(...values))}`;

/** Runs each contender once per round, in turn, and returns every contender's results. */
async function alternate<C extends Record<string, unknown>>(rounds: number, contenders: { [K in keyof C]: () => Promise<C[K]> }): Promise<{ [K in keyof C]: C[K][] }> {
  const names = Object.keys(contenders) as (keyof C)[];
  const results = Object.fromEntries(names.map((name) => [name, []])) as unknown as { [K in keyof C]: C[K][] };
  for (let round = 0; round < rounds; round++) {
    for (const name of names) results[name].push(await contenders[name]());
  }
  return results;
}

/** reference / ours per round: the median ratio is held to the target, the range of the rounds is shown. */
function spreadRatioRow(name: string, referenceMs: readonly number[], oursMs: readonly number[], atLeast: number): Row {
  const ratios = referenceMs.map((reference, round) => reference / oursMs[round]);
  const row = ratioRow(name, median(ratios), atLeast);
  return { ...row, value: `${row.value} (${range(ratios, (ratio) => `${ratio.toFixed(2)}x`)})` };
}

/** Writes `sizeMiB` random bytes to a file and returns its sha256 hex. */
export function writeRandomFile(file: string, sizeMiB: number): string {
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  for (let written = 0; written < sizeMiB; written += 16) {
    const chunk = randomBytes(16 * MiB);
    hash.update(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  return hash.digest('hex');
}

/** Uploads random bytes as a model version with its sha256 metadata. */
async function publishModel(azurite: Azurite, work: string, sizeMiB: number, log: (line: string) => void): Promise<void> {
  log(`publishing a ${sizeMiB} MiB model to Azurite`);
  const file = join(work, `source-${sizeMiB}.bin`);
  const sha256 = writeRandomFile(file, sizeMiB);
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('bench');
  await container.createIfNotExists();
  await container.getBlockBlobClient(blobName(sizeMiB)).uploadFile(file, { blockSize: 8 * MiB, concurrency: 4, metadata: { sha256 } });
  rmSync(file);
}

function contenders(azurite: Azurite, work: string, port: number, fetchTaskDir = taskDir): Contenders {
  const connectionString = azurite.connectionString.replace(`:${azurite.port}/`, `:${port}/`);
  const target = join(work, 'download');
  const clean = () => rmSync(target, { recursive: true, force: true });
  return {
    async curlMs(blob) {
      const url = blobSasUrl(azurite, 'bench', blob, { permissions: 'r' }).replace(`:${azurite.port}/`, `:${port}/`);
      const { ms } = await timeCommand('curl', ['-sS', '-f', '-o', target, url]);
      clean();
      return ms;
    },
    async sdkMs(blob) {
      const { ms } = await timeCommand(process.execPath, [join(__dirname, 'sdkSequential.mjs'), connectionString, 'bench', blob, target]);
      clean();
      return ms;
    },
    async task(prefix, extra = {}, { keep = false } = {}) {
      const rssFile = join(work, 'rss');
      const run = await runTask({
        taskDir: fetchTaskDir,
        inputs: { connectionType: 'connectionString', connectionString, container: 'bench', modelPrefix: prefix, destination: target, ...extra },
        variables: { 'System.Debug': 'false' },
        env: { NODE_OPTIONS: `--require ${join(__dirname, 'maxRss.cjs')}`, BENCH_MAX_RSS_FILE: rssFile },
        timeoutMs: 600_000,
      });
      if (run.result.status !== 'Succeeded') throw new Error(`the task failed: ${visibleOutput(run).slice(-2000)}`);
      if (!keep) clean();
      return { ms: run.durationMs, firstLineMs: run.firstLineMs ?? Number.NaN, rss: Number(readFileSync(rssFile, 'utf8')) };
    },
  };
}
