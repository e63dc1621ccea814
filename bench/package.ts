import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { timeCommand, type Row } from './measure';

/** Packages the extension as `npm run package` does and reports the .vsix size. */
export async function benchPackage(): Promise<Row> {
  const root = join(__dirname, '..');
  await timeCommand(process.execPath, [join(root, 'scripts', 'package.mjs')]);
  const vsix = readdirSync(join(root, 'dist')).filter((name) => name.endsWith('.vsix')).map((name) => join(root, 'dist', name));
  const size = Math.max(...vsix.map((file) => statSync(file).size));
  return { name: '.vsix size', value: `${(size / 1024 / 1024).toFixed(2)} MiB`, target: '< 10 MiB', pass: size < 10 * 1024 * 1024 };
}
