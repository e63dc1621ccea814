import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { TaskError } from '../../tasks/common/errors';
import { modelEntries } from '../../tasks/common/model/pipelineArtifactStore';
import { extractZipEntry, readZipEntries } from '../../tasks/common/model/zipArchive';
import { bytesReadUnder } from '../support/fileReads';
import { randomBytes } from '../support/modelStore';
import { deflatedZeros, writeZip, type ZipInput, type ZipOptions } from '../support/zipWriter';

const MiB = 1024 * 1024;

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

  describe('hostile zips fail cleanly, having written no more than declared', () => {
    const zipFile = (inputs: ZipInput[], options: ZipOptions = {}) => {
      const file = join(work, 'hostile.zip');
      writeFileSync(file, writeZip(inputs, options));
      return file;
    };
    const refused = (key: string, reason: RegExp) => (error: unknown) => error instanceof TaskError && error.key === key && reason.test(error.message);

    it('a bomb (a 512 KiB entry that inflates to 512 MiB but declares 1 MiB) stops at the declared size', async () => {
      const file = zipFile([{ name: 'model/weights.bin', data: Buffer.alloc(0), deflated: deflatedZeros(512), declaredSize: MiB }]);
      assert.ok(statSync(file).size < 600 * 1024);
      const [entry] = await readZipEntries(file);
      const target = join(work, 'out');
      const { bytes: read } = await bytesReadUnder(work, () => assert.rejects(extractZipEntry(file, entry, target), refused('ZipCorrupt', /inflates to more than the 1048576 bytes it declares/)));
      assert.ok(!existsSync(target) || statSync(target).size <= MiB, 'no more than the declared size was written');
      // 1 MiB of zeros takes about 1 KiB deflated; the stream reads ahead in 64 KiB chunks.
      assert.ok(read > 0 && read < entry.compressedSize / 2, `it stopped early instead of inflating everything: read ${read} of ${entry.compressedSize} compressed bytes`);
    });

    const counts: [string, ZipInput[], ZipOptions, RegExp][] = [
      ['claims more entries than it holds', [{ name: 'a', data: Buffer.from('a') }, { name: 'b', data: Buffer.from('b') }], { claimedCount: 3 }, /holds at most 2|ends after 2 of the 3/],
      ['claims fewer entries than it holds', [{ name: 'a', data: Buffer.from('a') }, { name: 'b', data: Buffer.from('b') }], { claimedCount: 1 }, /holds more than the 1 entries it claims/],
      ['claims 2^40 entries (ZIP64)', [{ name: 'a', data: Buffer.from('a') }], { zip64: true, claimedCount: 2 ** 40 }, /claims 1099511627776 entries, more than the 200000 allowed/],
      ['claims 65534 entries in a one-entry directory', [{ name: 'a', data: Buffer.from('a') }], { claimedCount: 65_534 }, /claims 65534 entries, but its central directory of \d+ bytes holds at most 1/],
    ];
    for (const [title, inputs, options, reason] of counts) {
      it(`a zip that ${title}`, async () => {
        await assert.rejects(readZipEntries(zipFile(inputs, options)), refused('ZipCorrupt', reason));
      });
    }

    const names: [string, string, RegExp][] = [
      ['an agent command', 'model/x ##vso[task.setvariable variable=INJECTED]pwned.bin', /agent command/],
      ['a formatting command', 'model/##[error]boom.bin', /agent command/],
      ['a line break', 'model/a\nb.bin', /control characters or line breaks/],
      ['a carriage return', 'model/a\rb.bin', /control characters or line breaks/],
      ['a NUL', 'model/a\u0000b.bin', /NUL/],
      ["'..'", 'model/../../etc/cron.d/x', /climbs out/],
      ['an absolute path', '/etc/passwd', /absolute path/],
      ['a drive letter', 'C:/Windows/x.dll', /absolute path/],
      ['a backslash', 'model\\..\\x', /backslash/],
      ["a '.' segment", 'model/./x', /'\.' path segment/],
    ];
    for (const [title, name, reason] of names) {
      it(`refuses an entry name with ${title}, naming the zip and the reason`, async () => {
        const file = zipFile([{ name: 'model/ok.bin', data: Buffer.from('ok') }, { name, data: Buffer.from('x') }]);
        await assert.rejects(readZipEntries(file), (error: unknown) => refused('ZipEntryNameRefused', reason)(error) && (error as Error).message.includes(file));
      });
    }

    it('refuses two entries with one name', async () => {
      await assert.rejects(readZipEntries(zipFile([{ name: 'm/a', data: Buffer.from('1') }, { name: 'm/a', data: Buffer.from('2') }])), refused('ZipEntryNameRefused', /two entries have that name/));
    });

    it('refuses an entry whose data would lie beyond the central directory', async () => {
      const zip = writeZip([{ name: 'a', data: Buffer.from('a'), method: 'store' }]);
      const central = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      zip.writeUInt32LE(0x7fffffff, central + 20); // a compressed size far beyond the file
      const file = join(work, 'hostile.zip');
      writeFileSync(file, zip);
      await assert.rejects(readZipEntries(file), refused('ZipCorrupt', /data lies outside the file/));
    });
  });
});
