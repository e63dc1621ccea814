// samples/azure-pipelines.yml is the pipeline people copy, so it must run as written: every input of
// our three tasks exists in its task.json (name or alias), required inputs that the visibleRules show
// are given, every $(step.output) and outputs['step.output'] names a step that is there and an output
// that task declares, the nightly schedule is a valid cron, and samples/classic.md gives the same
// inputs. The rules live in scripts/check-pipeline.mjs (also a CLI); the later tests prove they catch
// mistakes.
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkPipeline,
  cronProblems,
  loadOurTasks,
  loadPipeline,
  pipelineStages,
  ruleHolds,
  taskSteps,
  type Step,
} from '../../scripts/check-pipeline.mjs';

type Doc = {
  trigger?: { branches?: { include?: string[] } };
  schedules?: Array<{ cron: string; always?: boolean; branches?: { include?: string[] } }>;
  stages: Array<{ stage: string; variables?: Record<string, string>; condition?: string; jobs: Array<Record<string, unknown>> }>;
};

const samplePath = join(__dirname, '..', '..', 'samples', 'azure-pipelines.yml');
const tasks = loadOurTasks();
const load = (): Doc => loadPipeline(samplePath) as Doc;
const sample = load();
const problems = checkPipeline(sample, tasks);

function list(found: string[]): string {
  return found.map((problem) => `\n  - ${problem}`).join('');
}

/** The step named `name` (or running task `task`) anywhere in the pipeline. */
function stepOf(doc: unknown, name: string): Step {
  const steps = pipelineStages(doc).flatMap((stage) => stage.jobs.flatMap((job) => job.scopes.flat()));
  const step = steps.find((s) => s.name === name || String(s.task ?? '').startsWith(`${name}@`));
  assert.ok(step, `no step named ${name} in the pipeline`);
  return step;
}

const inputsOf = (doc: unknown, name: string): Record<string, unknown> => stepOf(doc, name).inputs as Record<string, unknown>;

describe('samples/azure-pipelines.yml', () => {
  it('uses each of our three tasks, at the major version of its task.json', () => {
    const used = taskSteps(sample, tasks).map((found) => `${found.name}@${found.major}`);
    assert.deepEqual(used.sort(), [...tasks.values()].map((task) => `${task.json.name}@${task.major}`).sort());
  });

  for (const found of taskSteps(sample, tasks)) {
    const where = `${found.stage.name}/${found.job.name}/${found.step.name ?? found.name}`;
    it(`${where} (${found.name}@${found.major}): every input exists, required ones are given, choices are valid`, () => {
      const mine = problems.filter((problem) => problem.startsWith(`${where}:`));
      assert.equal(mine.length, 0, list(mine));
    });
  }

  it('every $(step.output) and outputs[\'step.output\'] names an earlier step and an output its task declares', () => {
    const references = problems.filter((problem) => /\$\(|outputs\[/.test(problem));
    assert.equal(references.length, 0, list(references));
  });

  it('has no problem at all (scripts/check-pipeline.mjs)', () => {
    assert.equal(problems.length, 0, list(problems));
  });

  it('runs CI on every push to main and releases on a valid nightly schedule that runs even without new commits', () => {
    assert.deepEqual(sample.trigger?.branches?.include, ['main']);
    assert.equal(sample.schedules?.length, 1);
    const [nightly] = sample.schedules!;
    assert.deepEqual(cronProblems(nightly.cron), []);
    assert.equal(nightly.always, true, 'a newly approved model is not a source change: without always: true the night is skipped');
    assert.deepEqual(nightly.branches?.include, ['main']);
  });

  it('chains the outputs: fetch -> bake (in the Bake job), Docker@2\'s pushed image is bake\'s base image', () => {
    const bake = inputsOf(sample, 'bake');
    assert.equal(bake.modelPath, '$(fetch.modelPath)');
    assert.equal(bake.modelVersion, '$(fetch.modelVersion)');
    assert.equal(bake.modelDigest, '$(fetch.modelDigest)');
    const docker = inputsOf(sample, 'Docker');
    assert.equal(docker.command, 'buildAndPush');
    assert.ok(String(bake.baseImage).endsWith(`/${docker.repository}:${docker.tags}`), `baseImage ${bake.baseImage} is not what Docker@2 pushed`);
    assert.equal(bake.containerRegistry, docker.containerRegistry);
    assert.equal(inputsOf(sample, 'fetch').selection, 'tagQuery');
    assert.match(String(inputsOf(sample, 'fetch').tagQuery), /^"stage" = 'approved'$/);
  });

  it('releases from a deployment job with an environment, reading the Build stage output through stageDependencies', () => {
    const release = sample.stages.find((stage) => stage.stage === 'Release');
    assert.ok(release);
    assert.equal(release.variables?.imageRef, "$[ stageDependencies.Build.Bake.outputs['bake.imageRef'] ]");
    assert.match(release.condition ?? '', /'Schedule'/);
    const [job] = pipelineStages(sample).find((stage) => stage.name === 'Release')!.jobs;
    assert.ok(job.deployment && typeof job.node.environment === 'string', 'the release runs in a deployment job with an environment');
    const deploy = inputsOf(sample, 'deploy');
    assert.equal(deploy.image, '$(imageRef)');
    assert.equal(deploy.connectionType, 'azureResourceManager');
    assert.equal(deploy.readinessPath, '/healthz');
    assert.equal(deploy.smokeTestPath, '/version');
    assert.equal(String(deploy.containerPort), '5000');
    assert.deepEqual([deploy.modelVersion, deploy.modelDigest], ['$(modelVersion)', '$(modelDigest)']);
    assert.ok(deploy.dnsLabel);
  });
});

describe('samples/classic.md, the same pipeline in the classic designer', () => {
  const classicPath = join(__dirname, '..', '..', 'samples', 'classic.md');
  const classic = readFileSync(classicPath, 'utf8');

  it('gives every input the YAML gives our tasks, with the same value', () => {
    const missing: string[] = [];
    for (const found of taskSteps(sample, tasks)) {
      // the table under the task's picture, images/classic-<task-name-in-kebab-case>.png
      const picture = `classic-${found.name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}.png`;
      const start = classic.indexOf(picture);
      assert.ok(start >= 0, `classic.md does not show ${picture}`);
      const next = classic.indexOf('../images/classic-', start + picture.length);
      const rows = new Map(classic.slice(start, next < 0 ? undefined : next).split('\n')
        .map((line) => /^\s*\|[^|]*\(`(\w+)`\)\s*\|(.*)\|\s*$/.exec(line))
        .filter((match) => match !== null)
        .map((match) => [match[1], match[2]]));
      for (const [name, value] of Object.entries(found.step.inputs ?? {})) {
        if (!rows.get(name)?.includes(`\`${String(value)}\``)) missing.push(`${found.name} ${name}: ${String(value)}`);
      }
    }
    assert.deepEqual(missing, [], `classic.md's input tables differ from azure-pipelines.yml:${list(missing)}`);
  });

  it('shows pictures that exist', () => {
    const pictures = [...classic.matchAll(/\]\((\.\.\/images\/[^)]+\.png)\)/g)].map((match) => match[1]);
    assert.ok(pictures.length >= 4, `expected the diagram and three task forms, found ${pictures.join(', ')}`);
    for (const picture of pictures) assert.ok(existsSync(join(classicPath, '..', picture)), `${picture} does not exist`);
  });
});

describe('scripts/check-pipeline.mjs catches mistakes in the sample', () => {
  const mistakes: Array<[string, (doc: Doc) => void, RegExp]> = [
    ['a misspelt input name', (doc) => { const bake = inputsOf(doc, 'bake'); bake.modelpath = bake.modelPath; delete bake.modelPath; },
      /input 'modelpath' is not an input of BakeModelIntoImage \(did you mean 'modelPath'\?\)/],
    ['an input of another task', (doc) => { inputsOf(doc, 'fetch').baseImage = 'x'; }, /input 'baseImage' is not an input of FetchLatestModel/],
    ['a missing required input', (doc) => { delete inputsOf(doc, 'bake').baseImage; }, /required input 'baseImage' is missing/],
    ['a required input its visibleRule shows', (doc) => { delete inputsOf(doc, 'fetch').tagQuery; }, /required input 'tagQuery' is missing/],
    ['a required input of the other connection type', (doc) => { inputsOf(doc, 'deploy').connectionType = 'kubernetesServiceConnection'; },
      /required input 'kubernetesServiceConnection' is missing/],
    ['an input its visibleRule hides', (doc) => { inputsOf(doc, 'fetch').selection = 'newest'; }, /'tagQuery' is set but its visibleRule 'selection = tagQuery' hides it/],
    ['a choice that is not an option', (doc) => { inputsOf(doc, 'fetch').selection = 'tagquery'; }, /'selection' is 'tagquery', not one of .* \(did you mean 'tagQuery'\?\)/],
    ['a number that is not one', (doc) => { inputsOf(doc, 'deploy').replicas = 'two'; }, /'replicas' is 'two', not a whole number/],
    ['a misspelt step in $(step.output)', (doc) => { inputsOf(doc, 'bake').modelPath = '$(fetc.modelPath)'; }, /\$\(fetc\.modelPath\) names no step 'fetc' there \(did you mean 'fetch'\?\)/],
    ['a misspelt output in $(step.output)', (doc) => { inputsOf(doc, 'bake').modelVersion = '$(fetch.modelVersio)'; },
      /FetchLatestModel declares no output variable 'modelVersio' \(did you mean 'modelVersion'\?\)/],
    ['a step output read before the step runs', (doc) => { inputsOf(doc, 'fetch').container = '$(bake.imageRef)'; }, /names step 'bake', which does not run before it in the same job/],
    ['a step output read from another stage by macro', (doc) => { inputsOf(doc, 'deploy').image = '$(bake.imageRef)'; }, /names step 'bake', which does not run before it in the same job/],
    ['a misspelt stage in stageDependencies', (doc) => { doc.stages[1].variables!.imageRef = "$[ stageDependencies.Buld.Bake.outputs['bake.imageRef'] ]"; },
      /names stage 'Buld', which this stage does not depend on \(did you mean 'Build'\?\)/],
    ['a misspelt job in stageDependencies', (doc) => { doc.stages[1].variables!.imageRef = "$[ stageDependencies.Build.Bak.outputs['bake.imageRef'] ]"; },
      /names no job 'Bak' in stage 'Build' \(did you mean 'Bake'\?\)/],
    ['a misspelt output in stageDependencies', (doc) => { doc.stages[1].variables!.imageRef = "$[ stageDependencies.Build.Bake.outputs['bake.imageRf'] ]"; },
      /BakeModelIntoImage declares no output variable 'imageRf' \(did you mean 'imageRef'\?\)/],
    ['the deployment-job key for a regular job', (doc) => { doc.stages[1].variables!.imageRef = "$[ stageDependencies.Build.Bake.outputs['Bake.bake.imageRef'] ]"; },
      /outputs of job 'Bake' are keyed '<step>\.<output>' \(a regular job\)/],
    ['a runtime expression in a task input', (doc) => { inputsOf(doc, 'deploy').image = "$[ stageDependencies.Build.Bake.outputs['bake.imageRef'] ]"; },
      /input 'image' holds a runtime expression/],
    ['a misspelt task name', (doc) => { stepOf(doc, 'bake').task = 'BakeModelIntoImg@1'; }, /task 'BakeModelIntoImg@1' is none of this extension's tasks \(did you mean 'BakeModelIntoImage'\?\)/],
    ['a major version that does not exist', (doc) => { stepOf(doc, 'bake').task = 'BakeModelIntoImage@2'; }, /BakeModelIntoImage@2, but tasks\/BakeModelIntoImageV1 is version 1/],
    ['an hour out of range in the cron', (doc) => { doc.schedules![0].cron = '0 25 * * *'; }, /'25' is not a valid hour/],
    ['a cron with four fields', (doc) => { doc.schedules![0].cron = '0 2 * *'; }, /has 4 fields, not 5/],
  ];

  for (const [what, mutate, expected] of mistakes) {
    it(`reports ${what}`, () => {
      const doc = load();
      mutate(doc);
      const found = checkPipeline(doc, tasks);
      assert.ok(found.some((problem) => expected.test(problem)), `expected a problem matching ${expected}, got:${list(found) || ' none'}`);
    });
  }

  it('accepts an input given by its alias, and no tagQuery once selection no longer shows it', () => {
    const doc = load();
    const bake = inputsOf(doc, 'bake');
    bake.dockerRegistryServiceConnection = bake.containerRegistry;
    delete bake.containerRegistry;
    const fetch = inputsOf(doc, 'fetch');
    fetch.selection = 'highestVersion';
    delete fetch.tagQuery;
    assert.deepEqual(checkPipeline(doc, tasks), []);
  });
});

describe('cron and visibleRule rules', () => {
  for (const cron of ['0 2 * * *', '*/15 0-6 * * MON-FRI', '30 3 1,15 * 0', '0 0 * JAN-MAR,DEC SUN', '5-55/10 * * * *']) {
    it(`accepts the cron '${cron}'`, () => assert.deepEqual(cronProblems(cron), []));
  }
  for (const cron of ['60 * * * *', '0 2 32 * *', '0 0 * * 7', '* * * 13 *', '*/0 * * * *', '0 9-5 * * *', '0 2 * * * *', 'nightly']) {
    it(`rejects the cron '${cron}'`, () => assert.notDeepEqual(cronProblems(cron), []));
  }

  it('evaluates visibleRules as the designer does: =, !=, "" for empty, && and ||, case-insensitively', () => {
    const values = new Map([['manifests', ''], ['source', 'azureBlob'], ['connectionType', 'azureResourceManager']]);
    assert.equal(ruleHolds('manifests = ""', values), true);
    assert.equal(ruleHolds('manifests != ""', values), false);
    assert.equal(ruleHolds('source = azureblob', values), true);
    assert.equal(ruleHolds('connectionType = azureResourceManager && source != s3', values), true);
    assert.equal(ruleHolds('source = s3 || source = azureBlob', values), true);
    assert.equal(ruleHolds('source = s3 && source = azureBlob', values), false);
    assert.equal(ruleHolds(undefined, values), true);
  });
});
