// Every task.json follows the official schema and our conventions (DESIGN.md §3), and
// vss-extension.json contributes exactly the task folders. The rules live in
// scripts/validate-tasks.mjs, which `npm run package` also runs before tfx (tfx only warns).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  TASK_CHECKS,
  checkExtension,
  checkTask,
  checkTaskSet,
  createContext,
  defaultRoot,
  loadTasks,
  packagedTaskPath,
  parseVisibleRule,
  taskContributions,
  type TaskJson,
} from '../../scripts/validate-tasks.mjs';

const root = defaultRoot;
const tasks = loadTasks(root);
const context = createContext(root);

function problemText(problems: string[]): string {
  return problems.map((problem) => `\n  - ${problem}`).join('');
}

function assertNoProblems(problems: string[], where = ''): void {
  if (problems.length > 0) assert.fail(`${where}${problemText(problems)}`);
}

describe('task.json files', () => {
  it('exist: at least one tasks/<Name>V<n>/ folder', () => {
    assert.ok(tasks.length > 0, 'no task folder found under tasks/');
  });

  for (const task of tasks) {
    describe(`tasks/${task.folder}/task.json`, () => {
      it('parses as JSON', () => {
        assert.equal(task.error, null);
      });

      for (const { rule, check } of TASK_CHECKS) {
        it(rule, () => {
          assert.ok(task.json, task.error ?? 'task.json did not parse');
          const problems = check({ folder: task.folder, json: task.json }, context);
          assertNoProblems(problems, `tasks/${task.folder}/task.json:`);
        });
      }
    });
  }

  it('have ids and names unique across tasks', () => {
    const problems = checkTaskSet(tasks);
    assertNoProblems(problems);
  });
});

describe('vss-extension.json', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
  const contributions = taskContributions(manifest);

  it('contributes exactly the task folders under tasks/, each under its own name', () => {
    const expected = tasks.map((task) => packagedTaskPath(task.folder)).sort();
    const named = contributions.map((contribution) => contribution.name).sort();
    assert.deepEqual(named, expected);
  });

  it("gives each contributed task a task.json id of its own", () => {
    const ids = contributions.map((contribution) => {
      const task = tasks.find((candidate) => packagedTaskPath(candidate.folder) === contribution.name);
      assert.ok(task?.json, `contribution '${contribution.id}' names ${contribution.name}, which has no readable task.json`);
      return String(task.json.id).toLowerCase();
    });
    assert.equal(new Set(ids).size, ids.length, `task ids repeat: ${ids.join(', ')}`);
  });

  it('passes every manifest check (targets, files, unique contribution ids)', () => {
    const problems = checkExtension(root, tasks);
    assertNoProblems(problems);
  });

  it('packages the extension icon and the overview page', () => {
    assert.equal(manifest.icons?.default, 'images/extension-icon.png');
    assert.equal(manifest.content?.details?.path, 'overview.md');
    const icon = readFileSync(join(root, manifest.icons.default));
    assert.equal(icon.subarray(1, 4).toString('latin1'), 'PNG', 'extension icon is not a PNG');
    assert.deepEqual([icon.readUInt32BE(16), icon.readUInt32BE(20)], [128, 128], 'extension icon is not 128x128');
  });

  for (const task of tasks) {
    it(`has a 32x32 PNG icon for ${task.folder}`, () => {
      const icon = readFileSync(join(root, 'tasks', task.folder, 'icon.png'));
      assert.equal(icon.subarray(1, 4).toString('latin1'), 'PNG', 'icon.png is not a PNG');
      assert.deepEqual([icon.readUInt32BE(16), icon.readUInt32BE(20)], [32, 32], 'icon.png is not 32x32');
    });
  }
});

describe('the task.json checks catch mistakes', () => {
  // A known-good task to break one way at a time: the first real task with its messages in sync.
  const good = (): TaskJson => {
    const json = structuredClone(tasks[0]?.json) as TaskJson;
    json.messages = { ...context.catalog };
    return json;
  };
  const folder = tasks[0]?.folder ?? 'ExampleV1';

  function problemsFor(rulePrefix: string, breakIt: (json: TaskJson) => void): string[] {
    const json = good();
    breakIt(json);
    const check = TASK_CHECKS.find((candidate) => candidate.rule.startsWith(rulePrefix));
    assert.ok(check, `no check whose rule starts with '${rulePrefix}'`);
    return check.check({ folder, json }, context);
  }

  it('accepts the unbroken task', () => {
    const problems = checkTask({ folder, json: good(), error: null }, context);
    assertNoProblems(problems);
  });

  it('rejects a property the schema does not know', () => {
    const problems = problemsFor('is valid against', (json) => {
      json.inptus = [];
    });
    assert.match(problems.join('\n'), /inptus/);
  });

  it('rejects a friendlyName over 40 characters', () => {
    assert.equal(problemsFor('has a friendlyName', (json) => void (json.friendlyName = 'x'.repeat(41))).length, 1);
  });

  it('rejects a name with spaces and an id that is not a GUID', () => {
    assert.equal(problemsFor('has a name', (json) => void (json.name = 'Fetch Model')).length, 1);
    assert.equal(problemsFor('has a GUID id', (json) => void (json.id = 'not-a-guid')).length, 1);
  });

  it('rejects an input without helpMarkDown and an undeclared group', () => {
    assert.equal(problemsFor('declares each input once', (json) => void delete json.inputs![0]!.helpMarkDown).length, 1);
    assert.equal(problemsFor('puts inputs only in declared groups', (json) => void (json.inputs![0]!.groupName = 'nowhere')).length, 1);
  });

  it('rejects visibleRules with unknown inputs, unknown conditions, impossible values or mixed joiners', () => {
    const rule = (visibleRule: string) => problemsFor('has visibleRules', (json) => void (json.inputs![0]!.visibleRule = visibleRule));
    const [first, second] = good().inputs!;
    assert.equal(rule(`nosuchinput = x`).length, 1);
    assert.equal(rule(`${second!.name} ~= x`).length, 1);
    assert.equal(rule(`${second!.name} = a && ${second!.name} = b || ${second!.name} = c`).length, 1);
    if (first!.type === 'pickList' && first!.options) {
      const option = Object.keys(first!.options)[0]!;
      assert.deepEqual(problemsFor('has visibleRules', (json) => void (json.inputs![1]!.visibleRule = `${first!.name} = ${option}`)), []);
      assert.equal(problemsFor('has visibleRules', (json) => void (json.inputs![1]!.visibleRule = `${first!.name} = typo`)).length, 1);
    }
  });

  it('rejects a pickList default that is not an option', () => {
    const problems = problemsFor('has pickList and radio defaults', (json) => {
      json.inputs!.push({ name: 'extra', type: 'pickList', label: 'x', helpMarkDown: 'x', options: { a: 'A' }, defaultValue: 'b' } as never);
    });
    assert.equal(problems.length, 1);
  });

  it('rejects other handlers, other targets and a Major that does not match the folder', () => {
    assert.ok(problemsFor('runs with exactly', (json) => void (json.execution!.Node16 = { target: 'index.js' })).length > 0);
    assert.ok(problemsFor('runs with exactly', (json) => void (json.execution!.Node24 = { target: 'main.js' })).length > 0);
    assert.equal(problemsFor('has version.Major', (json) => void (json.version = { Major: 99, Minor: 0, Patch: 0 })).length, 1);
  });

  it('rejects messages that differ from the catalog, and says to run the build', () => {
    const problems = problemsFor('has messages equal', (json) => void (json.messages = { Stale: 'x' }));
    assert.match(problems.join('\n'), /npm run build/);
  });

  it('rejects two tasks that share an id', () => {
    const json = good();
    const problems = checkTaskSet([
      { folder: 'AV1', json },
      { folder: 'BV1', json: { ...json, name: 'Other' } },
    ]);
    assert.equal(problems.length, 1);
  });
});

describe('parseVisibleRule', () => {
  it('reads single predicates, && and || joins, and word conditions', () => {
    assert.deepEqual(parseVisibleRule('mode = a'), { predicates: [{ input: 'mode', condition: '=', value: 'a' }] });
    assert.deepEqual(parseVisibleRule('a != x && b == true').predicates?.map((p) => p.condition), ['!=', '==']);
    assert.deepEqual(parseVisibleRule('a = x || b NotContains y').predicates?.map((p) => p.input), ['a', 'b']);
    assert.deepEqual(parseVisibleRule('path EndsWith .onnx').predicates, [{ input: 'path', condition: 'EndsWith', value: '.onnx' }]);
  });

  it('refuses what the task editor would not understand', () => {
    assert.ok(parseVisibleRule('a = x && b = y || c = z').error);
    assert.ok(parseVisibleRule('a equals x').error);
    assert.ok(parseVisibleRule('= x').error);
  });
});
