// samples/canary-pipeline.yml: deciding later in a deployment job's canary hooks. It must run as
// written (scripts/check-pipeline.mjs: inputs exist, required ones given, choices valid) and wire the
// hooks as documented: deploy starts a manual canary, postRouteTraffic waits in a server job,
// on.success promotes, on.failure aborts.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { checkPipeline, loadOurTasks, loadPipeline } from '../../scripts/check-pipeline.mjs';

type Step = { task?: string; inputs?: Record<string, unknown> };
type Hook = { pool?: unknown; steps: Step[] };
type Doc = { stages: { jobs: { deployment?: string; strategy: { canary: { increments: number[]; deploy: Hook; postRouteTraffic: Hook; on: { success: Hook; failure: Hook } } } }[] }[] };

const file = join(__dirname, '..', '..', 'samples', 'canary-pipeline.yml');
const doc = loadPipeline(file) as Doc;
const ours = (hook: Hook) => hook.steps.filter((step) => step.task === 'DeployAiAppToAks@1').map((step) => step.inputs ?? {});

describe('samples/canary-pipeline.yml', () => {
  it('has no problem (scripts/check-pipeline.mjs)', () => {
    assert.deepEqual(checkPipeline(doc, loadOurTasks()), []);
  });

  it("overview.md's deciding-later job has no problem either", () => {
    const overview = readFileSync(join(__dirname, '..', '..', 'overview.md'), 'utf8');
    const section = overview.slice(overview.indexOf('#### Canary: deciding later'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'the section has a YAML example');
    const jobs = yaml.load(block) as unknown[];
    assert.deepEqual(checkPipeline({ jobs }, loadOurTasks()), []);
    assert.match(block, /action: promote/);
    assert.match(block, /pool: server/);
  });

  it('starts a manual canary in deploy, waits in a server job, promotes on success and aborts on failure', () => {
    const [job] = doc.stages[0]!.jobs;
    assert.ok(job?.deployment);
    const canary = job.strategy.canary;
    assert.equal(canary.increments.length, 1, 'the task runs its own steps');
    const [start] = ours(canary.deploy);
    assert.deepEqual([start?.strategy, start?.action, start?.canaryDecision], ['canary', 'deploy', 'manual']);
    assert.ok(start?.goldenRequests && canary.deploy.steps.some((step) => 'checkout' in step), 'the golden requests are checked out');
    assert.equal(canary.postRouteTraffic.pool, 'server');
    assert.equal(canary.postRouteTraffic.steps[0]?.task, 'ManualValidation@1');
    const [promote] = ours(canary.on.success);
    const [abort] = ours(canary.on.failure);
    assert.deepEqual([promote?.strategy, promote?.action], ['canary', 'promote']);
    assert.deepEqual([abort?.strategy, abort?.action], ['canary', 'abort']);
    for (const decision of [promote, abort]) assert.deepEqual([decision?.namespace, decision?.appName], [start?.namespace, start?.appName]);
    for (const input of ['containerPort', 'readinessPath']) assert.equal(promote?.[input], start?.[input], `the promote generates the app from the same ${input}`);
  });
});
