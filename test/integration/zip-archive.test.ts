import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { TaskError } from '../../tasks/common/errors';
import { modelEntries } from '../../tasks/common/model/pipelineArtifactStore';
import { extractZipEntry, readZipEntries } from '../../tasks/common/model/zipArchive';
import { randomBytes } from '../support/modelStore';
import { writeZip, type ZipInput } from '../support/zipWriter';

/** Every file of a zip as yauzl, an independent reader, sees it. */
function readWithYauzl(file: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (openError, zip) => {
      if (openError || !zip) return reject(openError);
      const found = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError);
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => {
            found.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(found));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('zip archives (pipeline artifacts)', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'zip-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const inputs: ZipInput[] = [
    { name: 'model/weights.bin', data: randomBytes(300_000), method: 'store' },
    { name: 'model/config/settings.json', data: Buffer.from('{"threshold":0.5}'.repeat(500)) },
    { name: 'model/empty.txt', data: Buffer.alloc(0) },
    { name: 'model/名前.txt', data: Buffer.from('utf-8 names') },
  ];

  for (const [title, options] of [['plain', {}], ['data descriptors', { dataDescriptors: true }], ['ZIP64', { zip64: true }], ['ZIP64 with data descriptors', { zip64: true, dataDescriptors: true }]] as const) {
    it(`reads and extracts a ${title} zip exactly as yauzl reads it`, async () => {
      const file = join(work, 'a.zip');
      writeFileSync(file, writeZip(inputs, options));
      const expected = await readWithYauzl(file);
      assert.deepEqual([...expected.keys()], inputs.map((input) => input.name), 'yauzl accepts the archive');
      const entries = await readZipEntries(file);
      assert.deepEqual(entries.map((entry) => entry.name), inputs.map((input) => input.name));
      for (const [index, entry] of entries.entries()) {
        const target = join(work, `entry-${index}`);
        await extractZipEntry(file, entry, target);
        assert.ok(readFileSync(target).equals(expected.get(entry.name)!), `${entry.name} extracts to the same bytes`);
        assert.ok(readFileSync(target).equals(inputs[index].data));
      }
    });
  }

  it('fails a truncated download clearly', async () => {
    const file = join(work, 'cut.zip');
    const zip = writeZip(inputs);
    writeFileSync(file, zip.subarray(0, zip.length - 30));
    await assert.rejects(readZipEntries(file), (error: unknown) => error instanceof TaskError && error.key === 'ZipCorrupt' && /incomplete/.test(error.message));
  });

  it('fails an entry whose bytes do not match its CRC-32', async () => {
    const file = join(work, 'flipped.zip');
    const zip = writeZip([{ name: 'a.bin', data: randomBytes(1000), method: 'store' }]);
    zip[30 + 'a.bin'.length + 500] ^= 0xff;
    writeFileSync(file, zip);
    const [entry] = await readZipEntries(file);
    await assert.rejects(extractZipEntry(file, entry, join(work, 'out')), (error: unknown) => error instanceof TaskError && error.key === 'ZipCorrupt' && /CRC-32/.test(error.message));
  });

  it('takes the files under the model prefix, without the top folder Azure DevOps adds', async () => {
    const file = join(work, 'drop.zip');
    writeFileSync(file, writeZip([
      { name: 'drop/model/a.bin', data: Buffer.from('a') },
      { name: 'drop/model/sub/b.bin', data: Buffer.from('b') },
      { name: 'drop/report.html', data: Buffer.from('r') },
    ]));
    const entries = await readZipEntries(file);
    assert.deepEqual(modelEntries(entries, 'drop', 'model/').map((entry) => entry.relative), ['a.bin', 'sub/b.bin']);
    assert.deepEqual(modelEntries(entries, 'drop', '').map((entry) => entry.relative), ['model/a.bin', 'model/sub/b.bin', 'report.html']);
  });
});
