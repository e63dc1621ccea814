#!/usr/bin/env node
// Bundles each task into dist/tasks/<Task>V1/ (index.js, its lazy chunks, task.json, icon.png, no
// node_modules), and a twin into dist/l0/ that leaves task-lib external so MockTestRunner can
// substitute it. dist/chunks/<Task>V1.json names the source modules in each file of the bundle.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';
import { syncMessages } from './sync-messages.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tasks = readdirSync(join(root, 'tasks')).filter((name) => /V\d+$/.test(name));

const IMPORT_META_URL = "const __bundleImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Full minification: the bundle parses in half the time, which is most of a task's cold start.
  minify: true,
  legalComments: 'none',
  // Some dependencies are ESM and call createRequire(import.meta.url); give the CJS bundle one.
  banner: { js: IMPORT_META_URL },
  define: { 'import.meta.url': '__bundleImportMetaUrl' },
  logLevel: 'warning',
  // task-lib loads task.json by path at run time: expected, not a missing module.
  logOverride: { 'unsupported-require-call': 'silent' },
};

/**
 * The task's bundle, split at each dynamic import() into chunks beside index.js: what one store,
 * connection type or mode needs (the AWS SDK, @azure/identity, the Azure DevOps client) is read and
 * parsed only when a run takes that path. esbuild splits only ESM output, so each file is then
 * turned into CommonJS (the agent runs `node index.js`, without a package.json): a chunk is
 * require()d once and cached, so every module still has exactly one instance. import() becomes
 * require() too: Node's own import() of a CommonJS chunk would see only the exports it can guess.
 */
async function buildTask(entry, outdir) {
  const { outputFiles, metafile } = await build({ ...common, banner: undefined, format: 'esm', splitting: true, write: false, metafile: true, entryPoints: { index: entry }, outdir, chunkNames: 'chunk-[hash]' });
  for (const file of outputFiles) {
    const { code } = await transform(file.text, { format: 'cjs', target: common.target, supported: { 'dynamic-import': false }, minify: true, legalComments: 'none', banner: IMPORT_META_URL, logLevel: 'error' }); // the build above already warned on the sources
    writeFileSync(file.path, code);
  }
  return chunkMap(metafile);
}

/** Each file of a task's bundle (index.js, chunk-*.js) with the source modules it holds, for tests that check what a run loads. */
function chunkMap(metafile) {
  return Object.fromEntries(Object.entries(metafile.outputs).filter(([path]) => path.endsWith('.js')).map(([path, { inputs }]) => [path.split('/').pop(), Object.keys(inputs).sort()]));
}

syncMessages(root, tasks);
rmSync(join(root, 'dist', 'tasks'), { recursive: true, force: true });
rmSync(join(root, 'dist', 'l0'), { recursive: true, force: true });
rmSync(join(root, 'dist', 'chunks'), { recursive: true, force: true });
mkdirSync(join(root, 'dist', 'chunks'), { recursive: true });
for (const task of tasks) {
  const source = join(root, 'tasks', task);
  const out = join(root, 'dist', 'tasks', task);
  mkdirSync(out, { recursive: true });
  // Beside dist/tasks, not in it: the .vsix carries only what the agent runs.
  writeFileSync(join(root, 'dist', 'chunks', `${task}.json`), JSON.stringify(await buildTask(join(source, 'index.ts'), out), null, 1));
  for (const file of ['task.json', 'icon.png']) {
    if (existsSync(join(source, file))) copyFileSync(join(source, file), join(out, file));
  }
  const l0 = join(root, 'dist', 'l0', task);
  mkdirSync(l0, { recursive: true });
  await build({ ...common, entryPoints: [join(source, 'index.ts')], outfile: join(l0, 'index.js'), external: ['azure-pipelines-task-lib', 'azure-pipelines-task-lib/*'] });
  copyFileSync(join(source, 'task.json'), join(l0, 'task.json'));
}
console.log(`build: bundled ${tasks.join(', ')} into dist/tasks/`);
