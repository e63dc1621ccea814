/**
 * Tar names as a real reader sees them: for generated model paths (any Unicode, up to a few hundred
 * bytes, multi-byte characters on the 100-byte ustar boundary) and long symlink targets, Python's
 * tarfile reads back exactly the names, types and targets our deterministic tar wrote, through
 * ustar fields and PAX records alike.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { openSegments, tarSegments, type TarEntry } from '../../tasks/common/oci/tar';

const READ_WITH_PYTHON = [
  'import json, sys, tarfile',
  'with tarfile.open(sys.argv[1], encoding="utf-8") as archive:',
  '    print(json.dumps([[m.name, m.type.decode(), m.linkname, m.size] for m in archive.getmembers()]))',
].join('\n');

async function archiveOf(entries: readonly TarEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of openSegments(tarSegments(entries, 1_700_000_000))) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('tar names read back by a real reader (fast-check, Python tarfile)', function () {
  this.timeout(120_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tar-names-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // A file name as a file system gives it: no '/', no NUL, not '.' or '..'; often long, often not ASCII.
  const segment = fc.string({ unit: fc.constantFrom('a', 'Z', '9', '-', '_', ' ', '.', 'é', 'ß', '日', '本', '🙂', '\u0301', '#', '[', '\\'), minLength: 1, maxLength: 60, size: 'max' })
    .filter((name) => name !== '.' && name !== '..');
  const filePath = fc.array(segment, { minLength: 1, maxLength: 6, size: 'max' }).map((parts) => `models/${parts.join('/')}`);
  const entry = fc.oneof(
    filePath.map((name): TarEntry => ({ path: name, type: 'file', mode: 0o644, size: 0 })),
    filePath.map((name): TarEntry => ({ path: `${name}/`, type: 'directory', mode: 0o755, size: 0 })),
    fc.tuple(filePath, filePath).map(([name, target]): TarEntry => ({ path: name, type: 'symlink', mode: 0o777, size: 0, linkTarget: target })),
  );

  it('gives back every name, type and link target as written', async () => {
    // Each run starts Python, so a failure is reported as found, without shrinking it for minutes.
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.uniqueArray(entry, { minLength: 1, maxLength: 12, selector: (e) => e.path }), async (entries) => {
      const file = path.join(dir, `archive-${run++}.tar`);
      fs.writeFileSync(file, await archiveOf(entries));
      const read = JSON.parse(execFileSync('python3', ['-c', READ_WITH_PYTHON, file], { encoding: 'utf8' })) as [string, string, string, number][];
      const expected = entries.map((e) => [e.path.replace(/\/$/, ''), e.type === 'file' ? '0' : e.type === 'directory' ? '5' : '2', e.linkTarget ?? '', 0]);
      assert.deepEqual(read, expected);
      fs.rmSync(file);
    }), { numRuns: 25, endOnFailure: true });
  });
});
