/**
 * `npm run demo`: the pipeline as it exists so far, on this machine, with embedded defaults.
 *
 * A data scientist publishes three versions of a small model to blob storage (Azurite), each with
 * a sha256 metadata entry and a `stage` index tag; then the bundled Fetch Latest Model task runs
 * exactly as the Azure Pipelines agent runs it and fetches the newest *approved* version.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite } from '../test/support/azurite';
import { ModelPublisher } from '../test/support/modelStore';
import { runTask, visibleOutput, type TaskRun } from '../test/support/taskRunner';

const taskDir = join(__dirname, '..', 'dist', 'tasks', 'FetchLatestModelV1');

/** A tiny churn model: logistic-regression weights the sample app can score with. */
function churnModel(version: string, weights: number[]): Buffer {
  return Buffer.from(JSON.stringify({ kind: 'logistic-regression', version, features: ['tenure', 'monthly_charges', 'support_calls'], weights, bias: -0.4 }, null, 2));
}

function show(title: string, run: TaskRun): void {
  console.log(`\n=== ${title}: ${run.result.status} in ${(run.durationMs / 1000).toFixed(2)} s`);
  for (const line of visibleOutput(run).split('\n')) {
    if (line && !line.startsWith('##')) console.log(`  | ${line}`);
  }
  if (run.result.status !== 'Succeeded') throw new Error(`${title} failed: ${run.result.message}`);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'model-delivery-demo-'));
  const azurite = await startAzurite({ location: join(work, 'azurite') });
  try {
    console.log(`Blob storage (Azurite) at ${azurite.blobEndpoint}`);
    const publisher = await new ModelPublisher(azurite.connectionString, 'models').create();
    const versions: [string, number[], string][] = [
      ['1.0.0', [0.8, 0.1, 0.3], 'production'],
      ['1.1.0', [0.9, 0.15, 0.35], 'production'],
      ['1.2.0-rc.1', [1.1, 0.2, 0.5], 'staging'],
    ];
    for (const [version, weights, stage] of versions) {
      await publisher.publish(`churn/${version}/model.json`, churnModel(version, weights), { tags: { stage } });
      await publisher.publish(`churn/${version}/README.md`, Buffer.from(`Churn model ${version}, stage ${stage}\n`), { tags: { stage } });
      console.log(`data scientist published churn/${version}/ (stage=${stage})`);
    }

    const destination = join(work, 'agent', '_temp', 'model');
    const inputs = {
      connectionType: 'connectionString',
      connectionString: azurite.connectionString,
      container: 'models',
      modelPrefix: 'churn/',
      selection: 'tagQuery',
      tagQuery: `"stage" = 'production'`,
      destination,
      cacheDirectory: join(work, 'agent', '_tool', 'model-cache'),
    };
    const first = await runTask({ taskDir, inputs, variables: { 'System.Debug': 'false' } });
    show('FetchLatestModel@1 (newest approved)', first);
    const again = await runTask({ taskDir, inputs, variables: { 'System.Debug': 'false' } });
    show('FetchLatestModel@1 again (cache)', again);
    const candidate = await runTask({ taskDir, inputs: { ...inputs, selection: 'highestVersion', destination: `${destination}-candidate` }, variables: { 'System.Debug': 'false' } });
    show('FetchLatestModel@1 (highest version, any stage)', candidate);

    console.log('\nOutput variables a later step reads as $(fetch.<name>):');
    for (const [name, value] of Object.entries(first.outputs)) console.log(`  ${name.padEnd(13)} ${value}`);
    console.log(`\nThe model folder holds: ${readdirSync(destination).join(', ')}`);
    console.log(`model.json says version ${JSON.parse(readFileSync(join(destination, 'model.json'), 'utf8')).version}`);
    console.log(`\nReport: approved model ${first.outputs.modelName} ${first.outputs.modelVersion} (${first.outputs.modelDigest}); ` +
      `candidate ${candidate.outputs.modelVersion}; fetch ${(first.durationMs / 1000).toFixed(2)} s, cached re-run ${(again.durationMs / 1000).toFixed(2)} s.`);
    console.log('Bake Model Into Image and Deploy AI App To AKS join this demo as they land.');
  } finally {
    await azurite.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
