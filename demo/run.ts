/**
 * `npm run demo`: the pipeline as it exists so far, on this machine, with embedded defaults.
 *
 * A data scientist trains and publishes three versions of the sample app's churn model
 * (samples/flask-app/model) to blob storage (Azurite), each with a sha256 metadata entry and a
 * `stage` index tag; then the bundled Fetch Latest Model task runs
 * exactly as the Azure Pipelines agent runs it and fetches the newest *approved* version. The
 * bundled Bake Model Into Image task then adds that model to the app image on a real registry
 * (the CNCF distribution registry), chaining Fetch's output variables, with no Docker engine.
 * A new approved version follows, and only the model layer moves. Finally the bundled Deploy AI App
 * To AKS task rolls both images out to a simulated AKS cluster whose pods are real containers (runc)
 * running the real app, proves the model each pod serves, and answers a real POST /score through
 * the load balancer; a broken image and two bad models are caught and rolled back.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite } from '../test/support/azurite';
import { pushAppImage } from '../test/support/appImage/appImage';
import { skopeoInspect } from '../test/support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../test/support/registry/registry';
import { runTask, visibleOutput, type TaskRun, type TaskStatus } from '../test/support/taskRunner';
import { deployDemo } from './deploy';
import { provenanceDemo } from './provenance';

const taskDir = join(__dirname, '..', 'dist', 'tasks', 'FetchLatestModelV1');
const bakeDir = join(__dirname, '..', 'dist', 'tasks', 'BakeModelIntoImageV1');
const quiet = { 'System.Debug': 'false' };
/** Every task run, in order, for the report's timings. */
const steps: [string, number][] = [];

/** Bake the fetched model into the app image, with Fetch's outputs as Bake's inputs (as in YAML). */
async function bake(registry: TestRegistry, fetched: TaskRun, tag: string, note = '', model: Partial<Record<'modelPath' | 'modelVersion' | 'modelDigest', string>> = {}): Promise<TaskRun> {
  const run = await runTask({
    taskDir: bakeDir,
    inputs: {
      baseImage: `${registry.host}/churn-app:app-1`,
      image: `${registry.host}/churn-app`,
      tags: tag,
      modelPath: fetched.outputs.modelPath,
      modelVersion: fetched.outputs.modelVersion,
      modelDigest: fetched.outputs.modelDigest,
      ...model,
      allowInsecureRegistry: 'true',
    },
    variables: { ...quiet, 'Build.BuildId': tag, 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn' },
  });
  show(`BakeModelIntoImage@1 (model ${model.modelVersion ?? fetched.outputs.modelVersion}${note})`, run);
  return run;
}

const sample = join(__dirname, '..', 'samples', 'flask-app', 'model');

/**
 * The data scientist's side, with the sample's own scripts: train the churn model (scikit-learn,
 * seeded per version) and publish it as Fetch reads it: version folder, sha256 metadata, stage tag.
 */
function publishModel(work: string, connectionString: string, version: string, stage: string, seed: number): void {
  const folder = join(work, 'trained', version);
  const train = execFileSync('/usr/bin/python3', [join(sample, 'train.py'), '--version', version, '--out', folder, '--seed', String(seed)], { encoding: 'utf8' });
  execFileSync(process.execPath, [join(sample, 'publish.mjs'), '--model', folder, '--container', 'models', '--prefix', 'churn/', '--tag', `stage=${stage}`, '--create-container'],
    { encoding: 'utf8', env: { ...process.env, AZURE_STORAGE_CONNECTION_STRING: connectionString } });
  console.log(`data scientist: ${train.trim()}; published churn/${version}/ (stage=${stage})`);
}

function show(title: string, run: TaskRun, expected: TaskStatus = 'Succeeded'): void {
  console.log(`\n=== ${title}: ${run.result.status} in ${(run.durationMs / 1000).toFixed(2)} s`);
  steps.push([title, run.durationMs]);
  for (const line of visibleOutput(run).split('\n')) {
    // A failure's diagnostics come again in its message: the caller shows that, trimmed.
    if (line && !line.startsWith('##') && (expected === 'Succeeded' || line.length <= 300)) console.log(`  | ${line}`);
  }
  if (run.result.status !== expected) throw new Error(`${title}: expected ${expected}, got ${run.result.status}: ${run.result.message}`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'model-delivery-demo-'));
  const azurite = await startAzurite({ location: join(work, 'azurite') });
  try {
    console.log(`Blob storage (Azurite) at ${azurite.blobEndpoint}`);
    const versions: [string, string][] = [['1.0.0', 'production'], ['1.1.0', 'production'], ['1.2.0-rc.1', 'staging']];
    versions.forEach(([version, stage], index) => publishModel(work, azurite.connectionString, version, stage, 40 + index));

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
    const first = await runTask({ taskDir, inputs, variables: quiet });
    show('FetchLatestModel@1 (newest approved)', first);
    const again = await runTask({ taskDir, inputs, variables: quiet });
    show('FetchLatestModel@1 again (cache)', again);
    const release = await runTask({ taskDir, inputs: { ...inputs, selection: 'highestVersion', destination: `${destination}-release` }, variables: quiet });
    show('FetchLatestModel@1 (highest version, any stage: pre-releases skipped)', release);
    const candidate = await runTask({ taskDir, inputs: { ...inputs, selection: 'highestVersion', includePrereleases: 'true', destination: `${destination}-candidate` }, variables: quiet });
    show('FetchLatestModel@1 (highest version, includePrereleases: true)', candidate);
    if (release.outputs.modelVersion !== '1.1.0' || candidate.outputs.modelVersion !== '1.2.0-rc.1') {
      throw new Error(`pre-releases: expected 1.1.0 without them and 1.2.0-rc.1 with them, got ${release.outputs.modelVersion} and ${candidate.outputs.modelVersion}`);
    }

    console.log('\nOutput variables a later step reads as $(fetch.<name>):');
    for (const [name, value] of Object.entries(first.outputs)) console.log(`  ${name.padEnd(13)} ${value}`);
    console.log(`\nThe model folder holds: ${readdirSync(destination).join(', ')}`);
    const metadata = JSON.parse(readFileSync(join(destination, 'metadata.json'), 'utf8'));
    console.log(`metadata.json says version ${metadata.version}, accuracy ${metadata.metrics?.accuracy} on held-out data`);

    const registry = await startRegistry({ auth: 'none' });
    try {
      console.log(`\nContainer registry (CNCF distribution) at ${registry.host}; the app team pushes churn-app:app-1,`);
      console.log('the sample app (samples/flask-app) built from Debian\'s packages: python3-flask, waitress, its non-root user');
      await pushAppImage(registry, 'churn-app', 'app-1');
      const baked = await bake(registry, first, '101');
      const inspected = await skopeoInspect(registry, 'churn-app:101');
      console.log('\nWhat skopeo sees in the baked image (anyone can tell which model it holds):');
      for (const line of (inspected.Env ?? []).filter((entry) => entry.startsWith('MODEL_'))) console.log(`  env   ${line}`);
      for (const [key, value] of Object.entries(inspected.Labels ?? {}).filter(([key]) => key.startsWith('ai.model') || key.startsWith('dev.azure'))) console.log(`  label ${key}=${value}`);

      console.log('\nThe data scientist approves churn 1.3.0; the next commit fetches and bakes again:');
      publishModel(work, azurite.connectionString, '1.3.0', 'production', 43);
      const next = await runTask({ taskDir, inputs, variables: quiet });
      show('FetchLatestModel@1 (newest approved)', next);
      const rebaked = await bake(registry, next, '102');
      // The next commit with no new model: same inputs, so the same digest and nothing to upload.
      const rebakeSame = await bake(registry, next, '102', ', same inputs again');

      console.log(`\nReport: approved model ${first.outputs.modelName} ${first.outputs.modelVersion} (${first.outputs.modelDigest}); ` +
        `highest release ${release.outputs.modelVersion}, candidate with pre-releases ${candidate.outputs.modelVersion}; fetch ${(first.durationMs / 1000).toFixed(2)} s, cached re-run ${(again.durationMs / 1000).toFixed(2)} s.`);
      console.log(`Baked ${baked.outputs.imageRef}: uploaded ${baked.outputs.bytesUploaded} bytes, reused ${baked.outputs.bytesReused} bytes of the app image.`);
      console.log(`Model ${next.outputs.modelVersion} baked as ${rebaked.outputs.imageRef}: uploaded ${rebaked.outputs.bytesUploaded} bytes (the new model layer, config and manifest).`);
      const same = rebakeSame.outputs.imageDigest === rebaked.outputs.imageDigest;
      console.log(`Re-baking model ${next.outputs.modelVersion} with the same inputs gave ${same ? 'the identical digest' : 'A DIFFERENT DIGEST'}; it uploaded ${rebakeSame.outputs.bytesUploaded} bytes (manifest only).`);
      if (!same) throw new Error('re-baking the same inputs changed the digest');
      const provenance = await provenanceDemo(registry, next, rebakeSame, work, show);
      const deployed = await deployDemo(registry, [{ fetched: first, baked }, { fetched: next, baked: rebaked }], show,
        (fetched, tag, note, model) => bake(registry, fetched, tag, note, model), work);
      for (const line of [...deployed, provenance]) console.log(line);
      console.log('Steps, as the agent ran them:');
      for (const [title, ms] of steps) console.log(`  ${(ms / 1000).toFixed(2).padStart(5)} s  ${title}`);
      console.log(`The whole demo took ${((performance.now() - started) / 1000).toFixed(1)} s.`);
    } finally {
      await registry.stop();
    }
  } finally {
    await azurite.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
