/**
 * A new 1 GiB model baked with `compression: gzip` (each layer tarred, compressed, hashed twice and
 * uploaded in one read of the model) against its floor: compress the weights file once, hash the
 * result with openssl, and one curl PUT of it, to the same registry. The floor compresses with
 * Node's zlib at the task's settings (level 6, 1 MiB pieces: the same library doing the same work)
 * and, for reference, with GNU gzip -6; both upload the zlib file (their sizes differ by 0.02 %).
 * The task runs with provenance off: the attestation hashes each model file in a read of its own,
 * which is not what these rows measure (README, bench section).
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestRegistry } from '../test/support/registry/registry';
import { alternate, bakeTask, curlUpload, GiB, mib, s, sync, withRegistry, type Log, type TaskMeasure } from './bakeRun';
import { median, timeCommand, type Row } from './measure';

const PAIRS = 3;
/** Node's zlib as the task runs it: 1 MiB reads, level 6, 1 MiB output pieces; file in, file out. */
const ZLIB = "const fs=require('fs'),zlib=require('zlib'),{pipeline}=require('stream');const [,input,output]=process.argv;" +
  "pipeline(fs.createReadStream(input,{highWaterMark:1<<20}),zlib.createGzip({chunkSize:1<<20}),fs.createWriteStream(output),(e)=>{if(e){console.error(e);process.exit(1)}})";

interface GzipFloor {
  readonly zlibMs: number;
  readonly gnuMs: number;
  readonly uploadMs: number;
}

export async function gzipRows(model: string, work: string, rows: Row[], log: Log): Promise<void> {
  log(`bake a new 1 GiB model with gzip: floor (compress + openssl + curl PUT) vs task, ${PAIRS} pairs in alternating order`);
  const floors: GzipFloor[] = [];
  const tasks: TaskMeasure[] = [];
  for (let i = 0; i < PAIRS; i++) {
    await withRegistry(log, async (registry) => {
      const [floorRun, taskRun] = await alternate(i,
        async () => (await sync(), gzipFloor(registry, work, join(model, 'weights.bin'), 'bench/floor-gz')),
        async () => (await sync(), bakeTask(registry, work, model, 'gz', { compression: 'gzip', provenance: 'false' })));
      floors.push(floorRun);
      tasks.push(taskRun);
      log(`  pair ${i + 1}${i % 2 === 0 ? ' (floor first)' : ' (task first)'}: zlib+openssl ${s(floorRun.zlibMs - floorRun.uploadMs)}, gzip -6+openssl ${s(floorRun.gnuMs - floorRun.uploadMs)}, ` +
        `curl ${s(floorRun.uploadMs)}; task ${s(taskRun.ms)} (first line at ${s(taskRun.startMs)}), uploaded ${mib(taskRun.bytesUploaded)}, read ${mib(taskRun.readBytes)} of the model, RSS ${mib(taskRun.rss)}`);
      if (taskRun.bytesUploaded < GiB) throw new Error(`the task uploaded only ${taskRun.bytesUploaded} bytes of a new 1 GiB model`);
    });
  }
  for (const [key, floorName] of [['zlibMs', 'zlib -6'], ['gnuMs', 'gzip -6']] as const) {
    const ratios = tasks.map((task, i) => task.ms / floors[i][key]);
    const ratio = median(ratios);
    log(`  task / floor with ${floorName}: ${ratios.map((r) => r.toFixed(2)).join(', ')} -> median ${ratio.toFixed(2)}x`);
    rows.push({ name: `bake new 1 GiB model, gzip: task / floor (${floorName} + openssl + curl PUT)`, value: `${ratio.toFixed(2)}x`, target: '<= 1.0x', pass: ratio <= 1.0 });
  }
  const size = folderBytes(model);
  const read = Math.max(...tasks.map((task) => task.readBytes));
  rows.push({ name: 'bake new 1 GiB model, gzip: model bytes read / model size', value: `${(read / size).toFixed(2)}x`, target: '<= 1.0x', pass: read <= size });
  rows.push({ name: 'bake new 1 GiB model, gzip: whole task', value: s(median(tasks.map((task) => task.ms))), target: 'reported', pass: true });
  const rss = Math.max(...tasks.map((task) => task.rss));
  rows.push({ name: 'bake 1 GiB, gzip: task peak RSS', value: `${(rss / 2 ** 20).toFixed(0)} MB`, target: '< 300 MB', pass: rss < 300 * 2 ** 20 });
}

/** Compress the file (zlib, then GNU gzip), hash each result, and one upload of the zlib file. */
async function gzipFloor(registry: TestRegistry, work: string, file: string, repository: string): Promise<GzipFloor> {
  const zlibFile = join(work, 'floor.zlib.gz');
  const gnuFile = join(work, 'floor.gnu.gz');
  try {
    const zlib = await timeCommand(process.execPath, ['-e', ZLIB, file, zlibFile]);
    const zlibHash = await timeCommand('openssl', ['dgst', '-sha256', '-r', zlibFile]);
    const gnu = await timeCommand('sh', ['-c', 'gzip -6 -n -c "$1" > "$2"', 'sh', file, gnuFile]);
    const gnuHash = await timeCommand('openssl', ['dgst', '-sha256', '-r', gnuFile]);
    const uploadMs = await curlUpload(registry, zlibFile, repository, zlibHash.stdout.split(' ')[0]);
    return { zlibMs: zlib.ms + zlibHash.ms + uploadMs, gnuMs: gnu.ms + gnuHash.ms + uploadMs, uploadMs };
  } finally {
    rmSync(zlibFile, { force: true });
    rmSync(gnuFile, { force: true });
  }
}

/** The bytes of every file under a folder. */
function folderBytes(folder: string): number {
  return readdirSync(folder, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
}
