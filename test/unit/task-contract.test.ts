import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error: a plain ES module of the build, without types
import { contractSource } from '../../scripts/contracts.mjs';

const root = join(__dirname, '..', '..');

describe('task contracts generated from task.json', () => {
  for (const folder of readdirSync(join(root, 'tasks')).filter((name) => /V\d+$/.test(name))) {
    it(`${folder}: the contract module is what task.json says (run npm run build after editing task.json)`, () => {
      const task = JSON.parse(readFileSync(join(root, 'tasks', folder, 'task.json'), 'utf8'));
      const module = folder.replace(/V\d+$/, '').replace(/^./, (first) => first.toLowerCase());
      const committed = readFileSync(join(root, 'tasks', 'common', 'contract', `${module}.ts`), 'utf8');
      assert.equal(committed, contractSource(folder, task));
    });
  }
});
