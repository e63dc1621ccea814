/**
 * `npm run bench`: every benchmark, side by side in one run, as ratios (the machine is shared and
 * absolute times drift). Exits non-zero when a target is missed, so a regression is visible.
 */
import { benchFetch } from './fetch';
import { printTable, type Row } from './measure';
import { benchPackage } from './package';

async function main(): Promise<void> {
  const log = (line: string) => console.log(`bench: ${line}`);
  const rows: Row[] = [...(await benchFetch(log)), await benchPackage()];
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
