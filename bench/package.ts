/**
 * The package and its bundles: the .vsix size as `npm run package` writes it, and for each task
 * bundle its cold start (spawn to the first line of output: Node starting and loading the bundle)
 * and its size. The one place that measures cold start, for all three bundles alike.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTask } from '../test/support/taskRunner';
import { median, timeCommand, type Row } from './measure';

const root = join(__dirname, '..');
const MiB = 1024 * 1024;
const ROUNDS = 5;
/** Inputs each task rejects at once, so the run is start-up and nothing else. */
const BUNDLES: ReadonlyArray<{ task: string; label: string; inputs: Record<string, string> }> = [
  { task: 'FetchLatestModelV1', label: 'FetchLatestModel', inputs: { connectionType: 'none' } },
  { task: 'BakeModelIntoImageV1', label: 'BakeModelIntoImage', inputs: {} },
  { task: 'DeployAiAppToAksV1', label: 'DeployAiAppToAks', inputs: {} },
];

export async function benchPackage(log: (line: string) => void): Promise<Row[]> {
  log('package: npm run package (scripts/package.mjs), then each bundle started and measured');
  await timeCommand(process.execPath, [join(root, 'scripts', 'package.mjs')]);
  const vsix = readdirSync(join(root, 'dist')).filter((name) => name.endsWith('.vsix')).map((name) => join(root, 'dist', name));
  const size = Math.max(...vsix.map((file) => statSync(file).size));
  const rows: Row[] = [{ name: '.vsix size', value: `${(size / MiB).toFixed(2)} MiB`, target: '< 10 MiB', pass: size < 10 * MiB }];
  // A copy of the bundles: a rebuild in the shared working tree during the run would remove dist/.
  const snapshot = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    for (const { task } of BUNDLES) cpSync(join(root, 'dist', 'tasks', task), join(snapshot, task), { recursive: true });
    const starts = await coldStarts(snapshot, log);
    for (const [i, { task, label }] of BUNDLES.entries()) {
      const ms = median(starts[i]);
      rows.push({ name: `${label} bundle: start to first line`, value: `${ms.toFixed(0)} ms`, target: '< 300 ms', pass: ms < 300 });
      const bytes = statSync(join(snapshot, task, 'index.js')).size;
      // The chunks beside index.js are loaded only on the paths that need them (a store, a connection type).
      const all = readdirSync(join(snapshot, task)).filter((name) => name.endsWith('.js')).reduce((sum, name) => sum + statSync(join(snapshot, task, name)).size, 0);
      rows.push({ name: `${label} bundle: index.js size (all chunks)`, value: `${(bytes / MiB).toFixed(2)} MiB (${(all / MiB).toFixed(2)} MiB)`, target: '(info)', pass: true });
    }
  } finally {
    rmSync(snapshot, { recursive: true, force: true });
  }
  return rows;
}

/** Spawn to first line, per bundle; one untimed run each first, then rounds taking the bundles in turn. */
async function coldStarts(snapshot: string, log: (line: string) => void): Promise<number[][]> {
  const start = async (task: string, inputs: Record<string, string>) => {
    const run = await runTask({ taskDir: join(snapshot, task), inputs, variables: { 'System.Debug': 'false' } });
    if (run.result.status !== 'Failed') throw new Error(`${task} was expected to reject its inputs at once, but ${run.result.status}`);
    return run.firstLineMs ?? Number.POSITIVE_INFINITY;
  };
  for (const { task, inputs } of BUNDLES) await start(task, inputs);
  const times: number[][] = BUNDLES.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, { task, inputs }] of BUNDLES.entries()) times[i].push(await start(task, inputs));
  }
  for (const [i, { label }] of BUNDLES.entries()) log(`  ${label} start to first line: ${times[i].map((ms) => ms.toFixed(0)).join(', ')} ms`);
  return times;
}
