/**
 * `npm run bench`: every benchmark, side by side in one run, as ratios (the machine is shared and
 * absolute times drift). Each section logs its progress as it runs; at the end one table holds
 * every section's rows. Exits 1 when a target is missed, 2 when a section could not finish.
 */
import { benchBake } from './bake';
import { benchDeploy } from './deploy';
import { benchDeployProof } from './deployProof';
import { benchFetch } from './fetch';
import { benchOci } from './oci';
import { benchS3Fetch } from './fetchS3';
import { printTable, type Row } from './measure';
import { benchPackage } from './package';
import { benchTcpProxy } from './tcpProxy';

type Log = (line: string) => void;

/** In the order they run; BENCH_ONLY names them. */
const SECTIONS: ReadonlyArray<{ name: string; run: (log: Log) => Promise<Row[]> }> = [
  { name: 'fetch', run: benchFetch },
  { name: 'fetch-s3', run: benchS3Fetch },
  { name: 'bake', run: benchBake },
  { name: 'oci', run: benchOci },
  { name: 'deploy', run: benchDeploy },
  { name: 'deployProof', run: benchDeployProof },
  { name: 'package', run: benchPackage },
  { name: 'tcpProxy', run: benchTcpProxy },
];

/** BENCH_ONLY=bake (or a comma-separated list of section names) runs only those sections. */
function selectedSections(): typeof SECTIONS {
  const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter(Boolean) ?? [];
  const unknown = only.filter((name) => !SECTIONS.some((section) => section.name === name));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY names no section ${unknown.join(', ')}; the sections are ${SECTIONS.map((s) => s.name).join(', ')}`);
  return only.length === 0 ? SECTIONS : SECTIONS.filter((section) => only.includes(section.name));
}

async function main(): Promise<void> {
  const log: Log = (line) => console.log(`bench: ${line}`);
  const rows: Row[] = [];
  let failed = 0;
  for (const section of selectedSections()) {
    const started = performance.now();
    log(`== ${section.name} ==`);
    try {
      rows.push(...(await section.run(log)));
      log(`== ${section.name} done in ${((performance.now() - started) / 1000).toFixed(0)} s ==`);
    } catch (error) {
      // The other sections' figures still count: report this one in the table and carry on.
      failed++;
      log(`== ${section.name} FAILED after ${((performance.now() - started) / 1000).toFixed(0)} s: ${error instanceof Error ? error.stack : error}`);
      rows.push({ name: `${section.name} section`, value: 'failed', target: 'completes', pass: false });
    }
  }
  printTable('Benchmarks (ratios measured side by side in this run)', rows);
  const missed = rows.filter((row) => !row.pass).length - failed;
  if (missed > 0) console.log(`\n${missed} target(s) missed on this run; the machine is shared, so re-run before concluding.`);
  if (failed > 0) console.log(`\n${failed} section(s) could not finish; see the log above.`);
  process.exitCode = failed > 0 ? 2 : missed > 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
