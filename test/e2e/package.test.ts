// Packages the extension the way `npm run package` does (the bundles come from `npm run build`,
// which `npm test` runs first) and opens the .vsix to check what a Marketplace upload would hold.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import yauzl from 'yauzl';

const root = join(__dirname, '..', '..');
const MAX_VSIX_BYTES = 10 * 1024 * 1024;
const TASK_FILES = ['index.js', 'task.json', 'icon.png'];
const TASKS = ['BakeModelIntoImageV1', 'DeployAiAppToAksV1', 'FetchLatestModelV1'];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Width and height from a PNG's IHDR, which must come first and carry a correct CRC; throws otherwise. */
function pngSize(name: string, png: Buffer): { width: number; height: number } {
  assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), `${name} does not start with the PNG signature`);
  assert.equal(png.readUInt32BE(8), 13, `${name}: the first chunk is not a 13-byte IHDR`);
  assert.equal(png.toString('latin1', 12, 16), 'IHDR', `${name}: the first chunk is not IHDR`);
  assert.equal(png.readUInt32BE(29), crc32(png.subarray(12, 29)), `${name}: the IHDR CRC is wrong`);
  assert.equal(png.toString('latin1', png.length - 8, png.length - 4), 'IEND', `${name} does not end with IEND`);
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

interface Vsix {
  path: string;
  names: string[];
  contents: Map<string, Buffer>;
}

/** Every entry name of a zip, and the contents of the files (not folders) in it. */
function readZip(path: string): Promise<Vsix> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: true }, (openError, zip) => {
      if (openError) return reject(openError);
      const names: string[] = [];
      const contents = new Map<string, Buffer>();
      zip.on('error', reject);
      zip.on('end', () => resolve({ path, names, contents }));
      zip.on('entry', (entry: yauzl.Entry) => {
        names.push(entry.fileName);
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
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

const sourceTasks = readdirSync(join(root, 'tasks'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && /V\d+$/.test(entry.name))
  .map((entry) => entry.name)
  .sort();
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));

describe('npm run package (.vsix)', () => {
  let vsix: Vsix;
  let taskFolders: string[];

  before(async () => {
    // The manifest's own publisher and version, whatever the caller's environment says.
    const env = { ...process.env };
    delete env.PUBLISHER;
    delete env.EXTENSION_OVERRIDES;
    const result = spawnSync(process.execPath, [join(root, 'scripts', 'package.mjs')], { cwd: root, env, encoding: 'utf8' });
    const output = `${result.stdout}${result.stderr}`;
    assert.equal(result.status, 0, `scripts/package.mjs failed:\n${output}`);
    const wrote = /^package: wrote (\S+\.vsix) /m.exec(result.stdout);
    assert.ok(wrote, `scripts/package.mjs did not say which .vsix it wrote:\n${output}`);
    assert.equal(wrote[1], `dist/${manifest.publisher}.${manifest.id}-${manifest.version}.vsix`);
    vsix = await readZip(join(root, wrote[1]));
    const vso = JSON.parse(vsix.contents.get('extension.vsomanifest')?.toString('utf8') ?? '{}');
    taskFolders = (vso.contributions ?? [])
      .filter((contribution: { type: string }) => contribution.type === 'ms.vss-distributed-task.task')
      .map((contribution: { properties: { name: string } }) => contribution.properties.name);
  });

  it('holds extension.vsixmanifest and extension.vsomanifest', () => {
    assert.ok(vsix.contents.has('extension.vsixmanifest'), 'extension.vsixmanifest is missing');
    assert.ok(vsix.contents.has('extension.vsomanifest'), 'extension.vsomanifest is missing');
  });

  it("names the manifest's publisher, id and version in extension.vsixmanifest", () => {
    const xml = vsix.contents.get('extension.vsixmanifest')!.toString('utf8');
    const identity = /<Identity\b[^>]*>/.exec(xml)?.[0] ?? '';
    assert.match(identity, new RegExp(`Id="${manifest.id}"`));
    assert.match(identity, new RegExp(`Publisher="${manifest.publisher}"`));
    assert.match(identity, new RegExp(`Version="${manifest.version.replace(/\./g, '\\.')}"`));
  });

  it('contributes one task per folder under tasks/', () => {
    assert.deepEqual(taskFolders.map((folder) => folder.split('/').pop()).sort(), sourceTasks);
  });

  it('holds exactly the three task folders, and no other task.json', () => {
    assert.deepEqual([...taskFolders].sort(), TASKS.map((name) => `dist/tasks/${name}`));
    const withTaskJson = vsix.names.filter((name) => name.endsWith('/task.json')).map((name) => name.slice(0, -'/task.json'.length)).sort();
    assert.deepEqual(withTaskJson, TASKS.map((name) => `dist/tasks/${name}`));
  });

  it('has index.js, task.json and icon.png in every task folder', () => {
    for (const folder of taskFolders) {
      for (const file of TASK_FILES) {
        const entry = vsix.contents.get(`${folder}/${file}`);
        assert.ok(entry && entry.length > 0, `${folder}/${file} is missing or empty`);
      }
    }
  });

  it('holds every chunk that a task file requires, beside it (the bundles are split at their dynamic imports)', () => {
    let chunks = 0;
    for (const folder of taskFolders) {
      const scripts = vsix.names.filter((name) => name.startsWith(`${folder}/`) && name.endsWith('.js'));
      for (const script of scripts) {
        for (const [, chunk] of vsix.contents.get(script)!.toString('utf8').matchAll(/require\("\.\/(chunk-[A-Z0-9]+\.js)"\)/g)) {
          chunks++;
          assert.ok(vsix.contents.has(`${folder}/${chunk}`), `${script} requires ./${chunk}, which is not packaged`);
        }
      }
    }
    assert.ok(chunks > 0, 'no task file requires a chunk: the pattern no longer matches the build output');
  });

  it('packages each task.json exactly as in the source', () => {
    for (const folder of taskFolders) {
      const name = folder.split('/').pop()!;
      const source = readFileSync(join(root, 'tasks', name, 'task.json'));
      const packaged = vsix.contents.get(`${folder}/task.json`)!;
      assert.deepEqual(JSON.parse(packaged.toString('utf8')), JSON.parse(source.toString('utf8')), `${folder}/task.json differs from tasks/${name}/task.json; run \`npm run build\``);
      assert.ok(packaged.equals(source), `${folder}/task.json is not byte-for-byte tasks/${name}/task.json`);
    }
  });

  it('has no node_modules anywhere', () => {
    const bundled = vsix.names.filter((name) => name.split('/').includes('node_modules'));
    assert.deepEqual(bundled, []);
  });

  it('carries the extension icon and the overview page', () => {
    assert.ok(vsix.contents.has(manifest.icons.default), `${manifest.icons.default} is missing`);
    assert.ok(vsix.contents.has(manifest.content.details.path), `${manifest.content.details.path} is missing`);
  });

  it('has a valid 32x32 PNG icon in every task folder and a 128x128 extension icon', () => {
    for (const folder of taskFolders) {
      const name = `${folder}/icon.png`;
      assert.deepEqual(pngSize(name, vsix.contents.get(name)!), { width: 32, height: 32 }, name);
    }
    const icon = manifest.icons.default;
    assert.deepEqual(pngSize(icon, vsix.contents.get(icon)!), { width: 128, height: 128 }, icon);
  });

  it('is under 10 MiB', () => {
    const size = statSync(vsix.path).size;
    assert.ok(size < MAX_VSIX_BYTES, `${vsix.path} is ${size} bytes`);
  });
});
