/**
 * `npm run bench`: every benchmark, side by side in one run, as ratios (the machine is shared and
 * absolute times drift). Exits non-zero when a target is missed, so a regression is visible.
 */
import { benchBake } from './bake';
import { benchDeploy } from './deploy';
import { benchFetch } from './fetch';
import { benchS3Fetch } from './fetchS3';
import { printTable, type Row } from './measure';
import { benchPackage } from './package';

/** BENCH_ONLY=bake (or a comma-separated list of section names) runs only those sections. */
const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter(Boolean);
const selected = (name: string) => !only?.length || only.includes(name);

async function main(): Promise<void> {
  const log = (line: string) => console.log(`bench: ${line}`);
  const rows: Row[] = [];
  if (selected('fetch')) rows.push(...(await benchFetch(log)));
  if (selected('fetch-s3')) rows.push(...(await benchS3Fetch(log)));
  if (selected('bake')) rows.push(...(await benchBake(log)));
  if (selected('deploy')) rows.push(...(await benchDeploy(log)));
  if (selected('package')) rows.push(await benchPackage());
  printTable('Benchmarks (ratios measured side by side in this run)', rows);
  const missed = rows.filter((row) => !row.pass);
  if (missed.length > 0) {
    console.log(`\n${missed.length} target(s) missed on this run; the machine is shared, so re-run before concluding.`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
