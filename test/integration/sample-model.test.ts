/**
 * The sample app's whole model path, as the data scientist and the pipeline use it: train with
 * samples/flask-app/model/train.py, publish with model/publish.mjs to Azurite, fetch with the Fetch
 * core (tagQuery stage=approved, sha256 verified), then serve the fetched folder with app.py.
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openBlobStore } from '../../tasks/common/model/blobStore';
import { fetchLatestModel } from '../../tasks/common/model/fetch';
import { containerSasUrl, startAzurite, type Azurite } from '../support/azurite';
import { fakeAgent } from '../support/fakeAgent';
import { testFetchOptions  } from '../support/fetchHarness';
import { ModelPublisher, sha256 } from '../support/modelStore';
import { testServices } from '../support/services';
import { testTransport } from '../support/azureTransport';
import { silentProgress } from '../../tasks/common/log';

const run = promisify(execFile);
const sample = join(__dirname, '..', '..', 'samples', 'flask-app');
// Debian's python3, where apt installs python3-flask and python3-sklearn (scripts/setup.mjs).
const python = process.env.PYTHON ?? '/usr/bin/python3';

async function train(version: string, out: string, seed = 42): Promise<void> {
  await run(python, [join(sample, 'model', 'train.py'), '--version', version, '--out', out, '--seed', String(seed)]);
}

/** Runs publish.mjs with a connection string, or with other AZURE_STORAGE_* variables. */
async function publish(credentials: string | Record<string, string>, args: string[]): Promise<{ stdout: string; digest: string }> {
  const given = typeof credentials === 'string' ? { AZURE_STORAGE_CONNECTION_STRING: credentials } : credentials;
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...given };
  const { stdout } = await run(process.execPath, [join(sample, 'model', 'publish.mjs'), ...args], { env });
  return { stdout, digest: /^modelDigest (sha256:[0-9a-f]{64})$/m.exec(stdout)?.[1] ?? '' };
}

/** The folder digest as overview.md defines it: sha256 of the sorted sha256sum listing. */
function folderDigest(folder: string): string {
  const names = readdirSync(folder).sort();
  return `sha256:${sha256(names.map((name) => `${sha256(readFileSync(join(folder, name)))}  ${name}\n`).join(''))}`;
}

/** Starts app.py on a free port; resolves with its base URL from the line it prints. */
function serve(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(python, [join(sample, 'app.py')], { env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env } });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`app.py printed no address in 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /serving model \S+ on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], child });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app.py exited (code ${code}):\n${output}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('sample app model: train, publish to Azurite, fetch by tag, serve', function () {
  this.timeout(120_000);
  let azurite: Azurite;
  let work: string;

  before(async () => {
    azurite = await startAzurite();
    work = mkdtempSync(join(tmpdir(), 'sample-model-'));
  });
  after(async () => {
    await azurite?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('publishes what Fetch selects with stage=approved and verifies, and the app scores with it', async () => {
    const approved = join(work, 'trained', '1.2.0');
    const candidate = join(work, 'trained', '1.3.0');
    await Promise.all([train('1.2.0', approved), train('1.3.0', candidate, 43)]);

    const published = await publish(azurite.connectionString, ['--model', approved, '--container', 'models', '--prefix', 'churn/', '--tag', 'stage=approved', '--create-container']);
    await publish(azurite.connectionString, ['--model', candidate, '--container', 'models', '--prefix', 'churn', '--tag', 'stage=candidate']);
    assert.equal(published.digest, folderDigest(approved), published.stdout);

    // Each blob carries the file's sha256 as metadata, and the approval tag.
    const container = new ModelPublisher(azurite.connectionString, 'models').container;
    const blob = container.getBlockBlobClient('churn/1.2.0/model.json');
    assert.equal((await blob.getProperties()).metadata?.sha256, sha256(readFileSync(join(approved, 'model.json'))));
    assert.deepEqual((await blob.getTags()).tags, { stage: 'approved' });

    const agent = fakeAgent({});
    const store = openBlobStore({ kind: 'connectionString', connectionString: azurite.connectionString, container: 'models' }, testTransport());
    const model = await fetchLatestModel(store, testFetchOptions(work, { rule: { kind: 'tagQuery', query: `"stage" = 'approved'` } }), { log: agent.log, progress: silentProgress, ...testServices() });
    assert.equal(model.version, '1.2.0', 'the approved version, not the higher candidate');
    assert.equal(model.digest, published.digest);
    assert.ok(model.verified);
    assert.deepEqual(readdirSync(model.path).sort(), ['metadata.json', 'model.json']);

    const app = await serve({ MODEL_PATH: model.path, MODEL_VERSION: model.version, MODEL_DIGEST: model.digest });
    try {
      assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
      const version = await (await fetch(`${app.url}/version`)).json() as { model_version: string; model_digest: string; metadata: { version: string } };
      assert.equal(version.model_version, '1.2.0');
      assert.equal(version.model_digest, published.digest);
      assert.equal(version.metadata.version, '1.2.0');
      const loyal = { tenure_months: 70, monthly_charges: 25, support_calls: 0, month_to_month: 0, senior: 0 };
      const atRisk = { tenure_months: 2, monthly_charges: 110, support_calls: 6, month_to_month: 1, senior: 1 };
      const scored = await fetch(`${app.url}/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [loyal, atRisk] }) });
      assert.equal(scored.status, 200);
      const { predictions } = await scored.json() as { predictions: { label: string; probability: number }[] };
      assert.deepEqual(predictions.map((p) => p.label), ['stay', 'churn']);
      const bad = await fetch(`${app.url}/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [{ ...loyal, senior: 'no' }] }) });
      assert.equal(bad.status, 400);
      assert.match((await bad.json() as { error: string }).error, /instances\[0\]\.senior must be a finite number/);
    } finally {
      await stop(app.child);
    }
  });

  it('refuses to publish a version twice, names what is wrong, and publishes with a container SAS', async () => {
    const folder = join(work, 'trained', '2.0.0');
    await train('2.0.0', folder);
    const args = ['--model', folder, '--container', 'models', '--prefix', 'churn/', '--create-container'];
    await publish(azurite.connectionString, args);
    await assert.rejects(publish(azurite.connectionString, args), /publish: churn\/2\.0\.0\/ already holds churn\/2\.0\.0\/metadata\.json: publish a new version/);
    await assert.rejects(publish(azurite.connectionString, [...args, '--version', '2.0.1']), /--version 2\.0\.1 disagrees with metadata\.json's version 2\.0\.0/);
    await assert.rejects(publish('', args), /set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_URL or AZURE_STORAGE_ACCOUNT_URL/);
    // --overwrite repairs a failed publish: the version is re-uploaded whole.
    const again = await publish(azurite.connectionString, [...args, '--overwrite']);
    assert.equal(again.digest, folderDigest(folder));
    // A container SAS with the permissions the README names (create, write, list, tag) is enough.
    const sasUrl = containerSasUrl(azurite, 'models', { permissions: 'cwlt' });
    const viaSas = await publish({ AZURE_STORAGE_SAS_URL: sasUrl }, ['--model', folder, '--prefix', 'churn-sas/', '--tag', 'stage=approved']);
    assert.equal(viaSas.digest, again.digest);
    assert.ok(!viaSas.stdout.includes('sig='), 'the SAS signature is not printed');
  });
});
