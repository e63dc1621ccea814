/**
 * Hostile model stores against the bundled Fetch task, as the agent runs it. Each case asserts
 * what the trust issue asks: a clean result (a failure naming the input or the peer, or a success
 * that ignored the hostile part), no secret in the output, no agent command beyond the task's own,
 * and nothing half-written (no destination, no scratch folder left in Agent.TempDirectory).
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type Azurite } from '../support/azurite';
import { assertCleanFailure, assertOnlyOwnCommands } from '../support/hostileChecks';
import { ModelPublisher, randomBytes } from '../support/modelStore';
import { startPipelinesStandIn, type PipelinesStandIn, type RunSpec } from '../support/pipelinesStandIn';
import { assertNoSecrets, runTask, visibleOutput, type TaskRun } from '../support/taskRunner';
import { deflatedZeros, writeZip, type ZipInput, type ZipOptions } from '../support/zipWriter';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const MiB = 1024 * 1024;

describe('FetchLatestModel e2e against hostile stores', function () {
  this.timeout(120_000);
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-hostile-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  describe('blob names that carry agent commands or line breaks (Azurite)', () => {
    let azurite: Azurite;
    const hostileNames = [
      'churn/9.9.9/x ##vso[task.setvariable variable=INJECTED]pwned.onnx',
      'churn/x ##vso[task.setvariable variable=INJECTED]pwned-9.9.9.onnx',
      'churn/9.9.8/a\n##vso[task.setvariable variable=INJECTED]b.onnx',
      'churn/9.9.7/a\r\n##[error]forged error.onnx',
      'churn/9.9.6/##[group]folded.onnx',
    ];
    before(async () => {
      azurite = await startAzurite();
      const publisher = await new ModelPublisher(azurite.connectionString, 'hostile').create();
      await publisher.publish('churn/1.0.0/model.onnx', randomBytes(1000));
      for (const name of hostileNames) await publisher.publish(name, randomBytes(100));
    });
    after(async () => azurite?.stop());

    for (const selection of ['highestVersion', 'newest'] as const) {
      it(`with selection ${selection}, no name reaches the agent as a command, and the result is clean either way`, async () => {
        const destination = join(work, 'model');
        const run = await runTask({
          taskDir,
          inputs: { connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'hostile', modelPrefix: 'churn/', selection, destination },
          keepFolders: true,
        });
        try {
          assertOnlyOwnCommands(run, taskDir);
          assert.equal(run.variables.INJECTED, undefined, 'a blob name set a variable');
          assert.ok(!run.timedOut);
          assertNoSecrets(run, { 'account key': azurite.accountKey, 'connection string': azurite.connectionString });
          if (run.result.status === 'Failed') {
            // Refused at selection (the model helper's rule) or at the output boundary: either names what came from the store.
            assert.match(run.result.message, /churn\/|blob|name|came from a store/i, 'a failure names the blob or its name');
          } else {
            assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
            assert.ok(!/##vso\[|[\r\n]/.test(run.outputs.modelVersion ?? ''), 'the chosen version is a plain one');
          }
          assertNoScratch(run);
          assert.deepEqual(readdirSync(work).filter((name) => name !== 'model'), [], 'no staging folder is left beside the destination');
        } finally {
          run.cleanup();
        }
      });
    }
  });

  describe('artifact zips that lie (Azure DevOps stand-in)', () => {
    const token = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${randomBytes(24).toString('base64url')}`;
    let devops: PipelinesStandIn;
    const zipOf = (inputs: ZipInput[], options: ZipOptions = {}) => ({ zip: writeZip(inputs.map((input) => ({ ...input, name: `model/${input.name}` })), options) });
    const hostile: [string, RunSpec['artifacts'], RegExp][] = [
      ['a zip bomb (512 MiB of zeros in 512 KiB, declaring 1 MiB)', { model: zipOf([{ name: 'weights.bin', data: Buffer.alloc(0), deflated: deflatedZeros(512), declaredSize: MiB }]) }, /artifact zip.*inflates to more than the 1048576 bytes it declares/],
      ['a zip whose end record claims more entries than it holds', { model: zipOf([{ name: 'a.bin', data: Buffer.from('a') }, { name: 'b.bin', data: Buffer.from('b') }], { claimedCount: 3 }) }, /artifact zip.*holds at most 2|artifact zip.*ends after 2 of the 3/],
      ['a zip whose end record claims fewer entries than it holds', { model: zipOf([{ name: 'a.bin', data: Buffer.from('a') }, { name: 'b.bin', data: Buffer.from('b') }], { claimedCount: 1 }) }, /artifact zip.*holds more than the 1 entries it claims/],
      ['a zip that claims 2^40 entries', { model: zipOf([{ name: 'a.bin', data: Buffer.from('a') }], { zip64: true, claimedCount: 2 ** 40 }) }, /artifact zip.*more than the 200000 allowed/],
      ['a zip that declares a 100 TB entry', { model: zipOf([{ name: 'huge.bin', data: Buffer.from('x'), declaredSize: 100 * 2 ** 40 }], { zip64: true }) }, /artifact zip.*unpacks to 100\.0 TB, but .* has only .* free/],
      ['a zip with an agent command in an entry name', { model: zipOf([{ name: 'x ##vso[task.setvariable variable=INJECTED]pwned.bin', data: Buffer.from('x') }]) }, /artifact zip.*entry named .*refused: it holds an agent command/],
      ['a zip with an entry that climbs out', { model: zipOf([{ name: '../../escape.bin', data: Buffer.from('x') }]) }, /artifact zip.*refused: it climbs out/],
    ];

    before(async () => {
      devops = await startPipelinesStandIn({
        accessToken: token,
        definitions: hostile.map((_, index) => ({ id: 50 + index, name: `hostile-${index}` })),
        runs: hostile.map(([, artifacts], index) => ({ id: 500 + index, definitionId: 50 + index, buildNumber: `1.0.${index}`, finishTime: new Date('2026-03-01T00:00:00Z'), artifacts })),
      });
    });
    after(async () => devops?.close());

    for (const [index, [title, , message]] of hostile.entries()) {
      it(`fails cleanly on ${title}`, async () => {
        const destination = join(work, 'model');
        const run = await runTask({
          taskDir,
          inputs: { source: 'pipelineArtifact', pipeline: `hostile-${index}`, artifactName: 'model', modelPrefix: '', destination },
          endpoints: { SystemVssConnection: { url: devops.collectionUri, scheme: 'OAuth', parameters: { AccessToken: token } } },
          variables: { 'System.TeamProjectId': devops.projectId, 'System.CollectionUri': devops.collectionUri },
          keepFolders: true,
        });
        try {
          assertCleanFailure(run, { taskDir, names: message, secrets: { 'System.AccessToken': token }, absent: [destination], noLeftoversIn: [run.folders.temp, work] });
          assert.equal(run.variables.INJECTED, undefined);
          assert.match(run.result.message, new RegExp(`artifact zip \\(azure-pipelines://[^/]+/hostile-${index}/${500 + index}/model\\)`), 'the error names the artifact, not a scratch path');
        } finally {
          run.cleanup();
        }
      });
    }
  });
});

/** The task's scratch folders (pipeline-artifact-*, .partial-*) are gone from Agent.TempDirectory. */
function assertNoScratch(run: TaskRun): void {
  const left = existsSync(run.folders.temp) ? readdirSync(run.folders.temp).filter((name) => /^pipeline-artifact-|\.partial-/.test(name)) : [];
  assert.deepEqual(left, [], 'a scratch folder was left behind');
}
