import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertNoSecrets, envName, parseVsoCommand, runTask, visibleOutput, type RunTaskOptions } from './taskRunner';

/** A task as small as can be: reads an input, an endpoint and a secret variable, reports back. */
const FIXTURE = `
const fs = require('fs');
const path = require('path');
const tl = require(${JSON.stringify(require.resolve('azure-pipelines-task-lib/task'))});
const mode = tl.getInput('mode', true);
const model = tl.getInput('model.name', true);
const connection = tl.getInput('connection', true);
const key = tl.getEndpointAuthorizationParameter(connection, 'serviceprincipalkey', false);
tl.setSecret(key);
console.log('url=' + tl.getEndpointUrl(connection, false));
console.log('scheme=' + tl.getEndpointAuthorizationScheme(connection, false));
console.log('tenant=' + tl.getEndpointDataParameter(connection, 'tenantId', false));
console.log('cwd=' + process.cwd());
console.log('parentOnly=' + process.env.TASK_RUNNER_PARENT_ONLY);
console.log('extra=' + process.env.EXTRA_FOR_TASK);
console.log('buildId=' + tl.getVariable('Build.BuildId'));
if (mode === 'leak') console.log('oops ' + key);
if (mode === 'crash') process.exit(3);
if (mode === 'hang') setInterval(() => undefined, 1000);
if (mode === 'hang') return;
tl.setProgress(40, 'downloading');
tl.setProgress(100, 'done');
tl.setVariable('modelVersion', model + ';v1]%', false, true);
tl.setVariable('scratch', 'not an output');
const summary = path.join(tl.getVariable('Agent.TempDirectory'), 'summary.md');
fs.writeFileSync(summary, '# Fetched ' + model);
tl.addAttachment('Distributedtask.Core.Summary', 'Fetch summary', summary);
const secretLength = (tl.getVariable('model.store.secret') || '').length;
if (mode === 'fail') tl.setResult(tl.TaskResult.Failed, 'could not fetch ' + model);
else tl.setResult(tl.TaskResult.Succeeded, 'fetched ' + model + '\\nsecret length ' + secretLength);
`;

describe('taskRunner', function () {
  this.timeout(30_000);
  let taskDir: string;
  const key = 'sp-key-with;odd]chars%and spaces';

  before(() => {
    taskDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fixture-task-'));
    fs.writeFileSync(path.join(taskDir, 'index.js'), `(function () {${FIXTURE}})();\n`);
  });
  after(() => fs.rmSync(taskDir, { recursive: true, force: true }));

  const run = (mode: string, extra: Partial<RunTaskOptions> = {}) => runTask({
    taskDir,
    inputs: { mode, 'model.name': 'fraud', connection: 'conn-1' },
    endpoints: {
      'conn-1': {
        url: 'https://management.azure.com/',
        scheme: 'ServicePrincipal',
        parameters: { serviceprincipalid: 'app-id', serviceprincipalkey: key, tenantid: 'tenant-1' },
        data: { tenantId: 'tenant-1', subscriptionId: 'sub-1' },
      },
    },
    secretVariables: { 'model.store.secret': 's3cr3t-value' },
    ...extra,
  });

  it('passes inputs, endpoints and variables as the agent does, and parses what the task reports', async () => {
    process.env.TASK_RUNNER_PARENT_ONLY = 'leaked';
    const result = await run('ok', { env: { EXTRA_FOR_TASK: 'yes' }, variables: { 'build.buildId': '42' } }).finally(() => {
      delete process.env.TASK_RUNNER_PARENT_ONLY;
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(result.result, { status: 'Succeeded', message: 'fetched fraud\nsecret length 12' });
    for (const line of ['url=https://management.azure.com/', 'scheme=ServicePrincipal', 'tenant=tenant-1', 'parentOnly=undefined', 'extra=yes', 'buildId=42']) {
      assert.ok(result.stdout.includes(line), `stdout has ${line}`);
    }
    assert.ok(result.stdout.includes(`cwd=${result.folders.work}`));
    assert.deepEqual(result.outputs, { modelVersion: 'fraud;v1]%' });
    assert.deepEqual(result.variables, { modelVersion: 'fraud;v1]%', scratch: 'not an output' });
    assert.deepEqual(result.secretsRegistered, [key]);
    assert.deepEqual(result.progress, [40, 100]);
    assert.equal(result.attachments.length, 1);
    assert.deepEqual({ ...result.attachments[0], path: undefined }, {
      type: 'Distributedtask.Core.Summary', name: 'Fetch summary', path: undefined, content: '# Fetched fraud',
    });
    assert.ok(result.commands.some((c) => c.command === 'task.debug'), 'System.Debug=true by default');
    assert.ok(result.firstLineMs !== undefined && result.firstLineMs <= result.durationMs);
    assert.equal(fs.existsSync(result.folders.root), false, 'folders removed after the run');
  });

  it('reports a failed result with its message and error issue', async () => {
    const result = await run('fail');
    assert.deepEqual(result.result, { status: 'Failed', message: 'could not fetch fraud' });
    assert.deepEqual(result.errors, ['could not fetch fraud']);
    assert.equal(result.exitCode, 0);
  });

  it('fails a task that exits non-zero, and one that hangs past its timeout', async () => {
    const crashed = await run('crash');
    assert.equal(crashed.exitCode, 3);
    assert.deepEqual(crashed.result, { status: 'Failed', message: 'Exit code 3 returned from process' });
    const hung = await run('hang', { timeoutMs: 1500 });
    assert.equal(hung.timedOut, true);
    assert.equal(hung.result.status, 'Failed');
  });

  it('keeps the folders on request', async () => {
    const result = await run('ok', { keepFolders: true });
    try {
      assert.ok(fs.existsSync(path.join(result.folders.temp, 'summary.md')));
    } finally {
      result.cleanup();
    }
  });

  it('finds secrets in the visible output, naming them by label only', async () => {
    const clean = await run('ok');
    assert.ok(clean.stdout.includes(`##vso[task.setsecret]${key.replace('%', '%AZP25')}`));
    assert.equal(visibleOutput(clean).includes('task.setsecret'), false);
    assertNoSecrets(clean, { 'service principal key': key });

    const leaky = await run('leak');
    assert.throws(() => assertNoSecrets(leaky, { 'service principal key': key }), (error: Error) => {
      assert.match(error.message, /"service principal key"/);
      assert.equal(error.message.includes(key), false, 'the message never shows the value');
      return true;
    });
    assert.throws(() => assertNoSecrets({ stdout: `url ${encodeURIComponent(key)}`, stderr: '' }, [key]), /"secret #1"/);
  });

  it('parses ##vso lines as task-lib writes them', () => {
    assert.deepEqual(parseVsoCommand('##vso[task.setvariable variable=a;isOutput=true;issecret=false;]x%AZP250D%0Ay'), {
      command: 'task.setvariable', properties: { variable: 'a', isOutput: 'true', issecret: 'false' }, message: 'x%0D\ny',
    });
    assert.deepEqual(parseVsoCommand('prefix ##vso[task.complete result=Failed;]boom'), {
      command: 'task.complete', properties: { result: 'Failed' }, message: 'boom',
    });
    assert.equal(parseVsoCommand('plain line'), undefined);
    assert.equal(envName('Agent.Temp Directory'), 'AGENT_TEMP_DIRECTORY');
  });
});
