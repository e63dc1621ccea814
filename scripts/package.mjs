#!/usr/bin/env node
// Packages the extension: validates every task.json, runs `tfx extension create`, then opens the
// .vsix and checks what is inside. Run `npm run build` first (`npm run package` does both).
//
//   PUBLISHER=my-publisher node scripts/package.mjs
//   EXTENSION_OVERRIDES='{"version":"1.0.3","public":true}' node scripts/package.mjs
//
// PUBLISHER replaces the manifest's placeholder publisher (tfx --publisher); EXTENSION_OVERRIDES is
// JSON merged over vss-extension.json (tfx --override). The manifest on disk is never rewritten.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import yauzl from 'yauzl';
import { TASK_CONTRIBUTION, defaultRoot as root, taskFolders, validateAll } from './validate-tasks.mjs';

const require = createRequire(import.meta.url);
const TASK_FILES = ['index.js', 'task.json', 'icon.png'];

class PackageError extends Error {}

function fail(message) {
  throw new PackageError(message);
}

function tfxBinary() {
  const manifest = require.resolve('tfx-cli/package.json');
  return join(dirname(manifest), require(manifest).bin.tfx);
}

/** The built bundles must exist before tfx runs, or it packages whatever is (not) there. */
function checkBuilt() {
  for (const folder of taskFolders(root)) {
    const missing = TASK_FILES.filter((file) => !existsSync(join(root, 'dist', 'tasks', folder, file)));
    if (missing.length > 0) fail(`dist/tasks/${folder}/ lacks ${missing.join(', ')}. Run \`npm run build\` first.`);
  }
}

function tfxArguments() {
  const args = ['extension', 'create', '--root', root, '--manifest-globs', 'vss-extension.json', '--output-path', join(root, 'dist') + '/'];
  args.push('--no-prompt', '--no-color', '--json');
  if (process.env.PUBLISHER) args.push('--publisher', process.env.PUBLISHER);
  if (process.env.EXTENSION_OVERRIDES) {
    try {
      JSON.parse(process.env.EXTENSION_OVERRIDES);
    } catch (error) {
      fail(`EXTENSION_OVERRIDES is not JSON: ${error.message}`);
    }
    args.push('--override', process.env.EXTENSION_OVERRIDES);
  }
  return args;
}

/**
 * Runs tfx and returns its JSON answer ({ path, extensionId, version, publisher }). tfx prints its
 * warnings on stdout ahead of the JSON and exits 0 after them; a warning here means a broken
 * package (a task.json tfx cannot use), so any warning fails the packaging.
 */
function runTfx() {
  const result = spawnSync(process.execPath, [tfxBinary(), ...tfxArguments()], { cwd: root, encoding: 'utf8' });
  const lines = `${result.stdout ?? ''}`.split('\n');
  const warnings = lines.filter((line) => line.startsWith('warning:'));
  const rest = lines.filter((line) => !line.startsWith('warning:')).join('\n').trim();
  if (result.status !== 0) fail(`tfx extension create failed (exit ${result.status}):\n${result.stderr}${result.stdout}`);
  if (warnings.length > 0) fail(`tfx extension create warned; fix these before publishing:\n${warnings.join('\n')}`);
  try {
    return JSON.parse(rest);
  } catch {
    fail(`tfx extension create printed something other than its JSON answer:\n${result.stdout}`);
  }
}

/** Reads a zip: every entry name, and the contents of the entries `wanted` selects. */
function readZip(path, wanted = () => false) {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: true }, (openError, zip) => {
      if (openError) return reject(openError);
      const names = [];
      const contents = new Map();
      zip.on('error', reject);
      zip.on('end', () => resolve({ names, contents }));
      zip.on('entry', (entry) => {
        names.push(entry.fileName);
        if (!wanted(entry.fileName)) return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const chunks = [];
          stream.on('data', (chunk) => chunks.push(chunk));
          stream.on('error', reject);
          stream.on('end', () => {
            contents.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** Every task contribution has its folder with index.js, task.json and icon.png; no node_modules. */
async function checkVsix(file) {
  const path = relative(root, file);
  const { names, contents } = await readZip(file, (name) => name === 'extension.vsomanifest');
  const files = new Set(names.filter((name) => !name.endsWith('/')));
  for (const required of ['extension.vsixmanifest', 'extension.vsomanifest']) {
    if (!files.has(required)) fail(`${path} has no ${required}`);
  }
  const bundled = names.filter((name) => name.split('/').includes('node_modules'));
  if (bundled.length > 0) fail(`${path} contains node_modules: ${bundled.slice(0, 5).join(', ')}`);
  const manifest = JSON.parse(contents.get('extension.vsomanifest').toString('utf8'));
  const tasks = (manifest.contributions ?? []).filter((contribution) => contribution.type === TASK_CONTRIBUTION);
  if (tasks.length === 0) fail(`${path} contributes no task`);
  for (const contribution of tasks) {
    const folder = contribution.properties?.name;
    const missing = TASK_FILES.filter((file) => !files.has(`${folder}/${file}`));
    if (missing.length > 0) fail(`${path}: task folder '${folder}' lacks ${missing.join(', ')}`);
  }
  return tasks.map((contribution) => contribution.properties.name);
}

function formatSize(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

async function main() {
  const problems = validateAll(root);
  if (problems.length > 0) fail(`task.json or vss-extension.json is invalid:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  checkBuilt();
  const answer = runTfx();
  const expected = `${answer.publisher}.${answer.extensionId}-${answer.version}.vsix`;
  if (relative(join(root, 'dist'), answer.path) !== expected) fail(`tfx wrote ${answer.path}; expected dist/${expected}`);
  let folders;
  try {
    folders = await checkVsix(answer.path);
  } catch (error) {
    rmSync(answer.path, { force: true }); // a package that failed its checks must not look publishable
    throw error;
  }
  const size = statSync(answer.path).size;
  console.log(`package: tasks ${folders.join(', ')}`);
  console.log(`package: wrote ${relative(root, answer.path)} (${formatSize(size)}, ${size} bytes)`);
}

main().catch((error) => {
  console.error(`package: ${error instanceof PackageError ? error.message : error.stack}`);
  process.exit(1);
});
