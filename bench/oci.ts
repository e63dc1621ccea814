/**
 * OCI model benchmarks against the real distribution registry, side by side in one run:
 * - Fetch (source oci) of a 1 GiB ModelPack raw layer, the whole bundled task, against one curl GET
 *   of the same blob;
 * - zero-copy Bake of a 1 GiB ModelPack modelcar (one tar layer under models/churn) into the app
 *   image: the whole bundled task's time and the bytes it uploaded; then skopeo copies the baked
 *   image to an OCI layout and umoci unpacks it, and the model in the rootfs is compared by sha256
 *   with the published one.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statfsSync, statSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256Of } from '../tasks/common/model/fileRecord';
import { entryHeader } from '../tasks/common/oci/tar';
import { pushBaseImage } from '../test/support/registry/baseImages';
import { unpackImage } from '../test/support/registry/imageTools';
import { rawRequest } from '../test/support/registry/http';
import { pushArtifact } from '../test/support/registry/pushArtifact';
import { startRegistry, type TestRegistry } from '../test/support/registry/registry';
import { runTask, visibleOutput } from '../test/support/taskRunner';
import { median, ratioRow, timeCommand, type Row } from './measure';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PAIRS = 3;
const fetchDir = join(__dirname, '..', 'dist', 'tasks', 'FetchLatestModelV1');
const bakeDir = join(__dirname, '..', 'dist', 'tasks', 'BakeModelIntoImageV1');

type Log = (line: string) => void;

export async function benchOci(log: Log): Promise<Row[]> {
  const work = mkdtempSync(join(tmpdir(), 'bench-oci-'));
  const registry = await startRegistry({ auth: 'none' });
  const rows: Row[] = [];
  try {
    const free = statfsSync(work).bavail * statfsSync(work).bsize;
    if (free < 6 * GiB) throw new Error(`the OCI benchmarks need 6 GiB free in ${work}; ${(free / GiB).toFixed(1)} GiB is free`);
    log(`oci: load average ${loadavg().map((load) => load.toFixed(2)).join(' ')} before starting`);
    const weights = join(work, 'weights.bin');
    const weightsDigest = writeRandom(weights, GiB);
    await uploadBlob(registry, 'models/churn', weights, weightsDigest);
    const raw = await pushArtifact(registry, 'models/churn', '1.0.0', modelPack({ mediaType: 'application/vnd.cncf.model.weight.v1.raw', digest: weightsDigest, size: GiB, annotations: { 'org.cncf.model.filepath': 'model.bin' } }, []));
    log(`oci: pushed a 1 GiB ModelPack raw layer as models/churn:1.0.0 (${raw})`);
    rows.push(...(await fetchRows(registry, work, weightsDigest, log)));
    const car = join(work, 'modelcar.tar');
    const carDigest = writeModelcar(car, weights, 'models/churn/model.bin');
    rmSync(weights);
    await uploadBlob(registry, 'models/churn', car, carDigest);
    const carSize = statSync(car).size;
    const manifest = await pushArtifact(registry, 'models/churn', '2.0.0', modelPack({ mediaType: 'application/vnd.cncf.model.weight.v1.tar', digest: carDigest, size: carSize, annotations: { 'org.cncf.model.filepath': 'models/churn' } }, [carDigest]));
    rmSync(car);
    await pushBaseImage(registry, 'churn-app', 'app-1', 'oci');
    rows.push(...(await bakeRows(registry, `oci://${registry.host}/models/churn@${manifest}`, work, log)));
    rows.push(await unpackRow(registry, { 'models/churn/model.bin': weightsDigest }, log));
    log(`oci: load average ${loadavg().map((load) => load.toFixed(2)).join(' ')} at the end`);
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

async function fetchRows(registry: TestRegistry, work: string, digest: string, log: Log): Promise<Row[]> {
  const destination = join(work, 'fetched');
  const curlTimes: number[] = [];
  const taskTimes: number[] = [];
  for (let round = 0; round < PAIRS; round++) {
    await timeCommand('sync', []);
    const curl = await timeCommand('curl', ['-sS', '-f', '-o', join(work, 'curl.bin'), `${registry.url}/v2/models/churn/blobs/${digest}`]);
    rmSync(join(work, 'curl.bin'));
    await timeCommand('sync', []);
    const run = await runTask({ taskDir: fetchDir, inputs: { source: 'oci', ociRepository: `${registry.host}/models/churn`, allowInsecureRegistry: 'true', destination }, variables: { 'System.Debug': 'false' }, timeoutMs: 600_000 });
    if (run.result.status !== 'Succeeded') throw new Error(`Fetch failed: ${visibleOutput(run).slice(-2000)}`);
    rmSync(destination, { recursive: true, force: true });
    curlTimes.push(curl.ms);
    taskTimes.push(run.durationMs);
    log(`oci fetch round ${round + 1}: curl ${(curl.ms / 1000).toFixed(2)} s, task ${(run.durationMs / 1000).toFixed(2)} s`);
  }
  return [ratioRow('oci fetch 1 GiB raw layer: task (whole process) vs one curl GET', median(curlTimes) / median(taskTimes), 0.5)];
}

async function bakeRows(registry: TestRegistry, modelUri: string, work: string, log: Log): Promise<Row[]> {
  const times: number[] = [];
  let uploaded = 0;
  for (let round = 0; round < PAIRS; round++) {
    const run = await runTask({
      taskDir: bakeDir,
      inputs: { baseImage: `${registry.host}/churn-app:app-1`, tags: `zero-${round}`, modelPath: join(work, 'not-read'), modelDirectory: '/models/churn', modelUri, allowInsecureRegistry: 'true' },
      variables: { 'System.Debug': 'false' },
      timeoutMs: 600_000,
    });
    if (run.result.status !== 'Succeeded') throw new Error(`Bake failed: ${visibleOutput(run).slice(-2000)}`);
    uploaded = Math.max(uploaded, Number(run.outputs.bytesUploaded));
    times.push(run.durationMs);
    log(`oci zero-copy bake round ${round + 1}: ${(run.durationMs / 1000).toFixed(2)} s, uploaded ${run.outputs.bytesUploaded} bytes, reused ${run.outputs.bytesReused}`);
  }
  const ms = median(times);
  return [
    { name: 'zero-copy bake 1 GiB OCI model: bytes uploaded', value: `${(uploaded / 1024).toFixed(1)} KiB`, target: '< 1 MiB', pass: uploaded < MiB },
    { name: 'zero-copy bake 1 GiB OCI model: whole task', value: `${(ms / 1000).toFixed(2)} s`, target: '< 2 s', pass: ms < 2000 },
  ];
}

/** The last zero-copy bake, unpacked by skopeo + umoci: each published file byte-identical (sha256) in the rootfs. */
async function unpackRow(registry: TestRegistry, published: Record<string, string>, log: Log): Promise<Row> {
  const unpacked = await unpackImage(registry, `churn-app:zero-${PAIRS - 1}`);
  let same = true;
  try {
    for (const [file, digest] of Object.entries(published)) {
      const found = `sha256:${await sha256Of(join(unpacked.rootfs, file))}`;
      log(`oci zero-copy bake unpacked by umoci: /${file} ${found}, published ${digest}`);
      same &&= found === digest;
    }
  } finally {
    await unpacked.cleanup();
  }
  return { name: 'zero-copy bake 1 GiB: umoci unpack holds the model byte-identical', value: same ? 'yes' : 'no', target: 'yes', pass: same };
}

function modelPack(layer: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }, diffIds: string[]) {
  return {
    artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    config: { mediaType: 'application/vnd.cncf.model.config.v1+json', data: Buffer.from(JSON.stringify({ descriptor: { createdAt: '2026-01-01T00:00:00Z' }, modelfs: { type: 'layers', diffIds } })) },
    layers: [layer],
  };
}

function writeRandom(file: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= 16 * MiB) {
      const chunk = randomBytes(Math.min(left, 16 * MiB));
      hash.update(chunk);
      writeSync(fd, chunk);
    }
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** A tar holding `source` as `path`, written with the task's own tar header. */
function writeModelcar(file: string, source: string, path: string): string {
  const size = statSync(source).size;
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  const write = (data: Buffer) => (hash.update(data), writeSync(fd, data));
  try {
    write(entryHeader({ path, type: 'file', mode: 0o644, size }, 0));
    const input = openSync(source, 'r');
    const buffer = Buffer.alloc(16 * MiB);
    for (let offset = 0; offset < size; ) {
      const read = readSync(input, buffer, 0, buffer.length, offset);
      write(buffer.subarray(0, read));
      offset += read;
    }
    closeSync(input);
    write(Buffer.alloc((512 - (size % 512)) % 512 + 1024));
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}


/** A monolithic upload of a file with curl (-T streams it), as the floor a registry client has. */
async function uploadBlob(registry: TestRegistry, repository: string, file: string, digest: string): Promise<void> {
  const start = await rawRequest(`${registry.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', body: '' });
  const location = new URL(String(start.headers.location), registry.url);
  location.searchParams.set('digest', digest);
  await timeCommand('curl', ['-sS', '-f', '-X', 'PUT', '-H', 'content-type: application/octet-stream', '-T', file, location.toString()]);
}
