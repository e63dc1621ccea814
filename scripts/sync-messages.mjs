// Writes the message catalog (tasks/common/messages.json) into each task.json's "messages", so
// task-lib's loc() finds every key the shared core can use. A unit test keeps them equal.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function syncMessages(root, tasks) {
  const catalog = JSON.parse(readFileSync(join(root, 'tasks', 'common', 'messages.json'), 'utf8'));
  for (const task of tasks) {
    const file = join(root, 'tasks', task, 'task.json');
    const text = readFileSync(file, 'utf8');
    const json = JSON.parse(text);
    json.messages = catalog;
    const next = `${JSON.stringify(json, null, 2)}\n`;
    if (next !== text) writeFileSync(file, next);
  }
}
