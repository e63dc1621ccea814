/**
 * The S3 fetch benchmark, side by side with the blob one: the whole bundled task against one curl
 * GET (SigV4-signed by curl itself) of the same object on the same local S3 (s3rver behind its
 * signature-checking front), through the proxy that caps every connection at 40 MB/s.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Publisher, startS3, type S3Server } from '../test/support/s3';
import { startTcpProxy } from '../test/support/tcpProxy';
import { runTask, visibleOutput } from '../test/support/taskRunner';
import { writeRandomFile } from './fetch';
import { ratioRow, timeCommand, type Row } from './measure';

const MiB = 1024 * 1024;
const LINK_CAP = 40_000_000; // bytes per second, per connection, as for the blob rows
const taskDir = join(__dirname, '..', 'dist', 'tasks', 'FetchLatestModelV1');
const keyOf = (sizeMiB: number) => `m${sizeMiB}/model-1.0.0.bin`;

export async function benchS3Fetch(log: (line: string) => void): Promise<Row[]> {
  const work = mkdtempSync(join(tmpdir(), 'bench-s3-'));
  const s3 = await startS3();
  const proxy = await startTcpProxy({ targetPort: s3.port, bytesPerSecondPerConnection: LINK_CAP });
  const rows: Row[] = [];
  try {
    const publisher = await new S3Publisher(s3, 'bench').create();
    for (const size of [256, 1024]) {
      log(`publishing a ${size} MiB model to the local S3`);
      const file = join(work, 'source.bin');
      await publisher.publishFile(keyOf(size), file, writeRandomFile(file, size));
      rmSync(file);
    }
    const endpoint = `http://127.0.0.1:${proxy.port}`;
    for (const size of [256, 1024]) {
      log(`fetch ${size} MiB from S3 through the 40 MB/s-per-connection proxy: curl, task`);
      const curl = await curlMs(s3, endpoint, keyOf(size), join(work, 'curl.bin'));
      const task = await taskRun(s3, endpoint, `m${size}/`, work);
      rows.push(ratioRow(`fetch ${size} MiB from S3 @40MB/s/conn: task vs curl`, curl / task.ms, 3));
      rows.push({ name: `fetch ${size} MiB from S3: task peak RSS`, value: `${(task.rss / MiB).toFixed(0)} MB`, target: '< 300 MB', pass: task.rss < 300 * MiB });
    }
  } finally {
    await proxy.close();
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

async function curlMs(s3: S3Server, endpoint: string, key: string, target: string): Promise<number> {
  const { ms } = await timeCommand('curl', [
    '-sS', '-f', '-o', target, '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${s3.accessKeyId}:${s3.secretAccessKey}`,
    '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', `${endpoint}/bench/${key}`,
  ]);
  rmSync(target, { force: true });
  return ms;
}

async function taskRun(s3: S3Server, endpoint: string, prefix: string, work: string): Promise<{ ms: number; rss: number }> {
  const rssFile = join(work, 'rss');
  const destination = join(work, 'download');
  const run = await runTask({
    taskDir,
    inputs: { source: 's3', s3Bucket: 'bench', s3Endpoint: endpoint, s3ForcePathStyle: 'true', awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey, modelPrefix: prefix, destination },
    variables: { 'System.Debug': 'false' },
    env: { NODE_OPTIONS: `--require ${join(__dirname, 'maxRss.cjs')}`, BENCH_MAX_RSS_FILE: rssFile },
    timeoutMs: 600_000,
  });
  if (run.result.status !== 'Succeeded') throw new Error(`the task failed: ${visibleOutput(run).slice(-2000)}`);
  rmSync(destination, { recursive: true, force: true });
  return { ms: run.durationMs, rss: Number(readFileSync(rssFile, 'utf8')) };
}
