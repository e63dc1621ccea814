/**
 * Which source modules a run of a bundled task loaded: a preload records the bundle files the run
 * require()d, and dist/chunks/<Task>.json, written by the build, names the modules in each file.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The environment that makes a task run record its loads into `record` (pass it as runTask's env). */
export function recordLoadsEnv(record: string): Record<string, string> {
  return { NODE_OPTIONS: `--require "${path.join(__dirname, 'recordLoads.cjs')}"`, RECORD_LOADS_TO: record };
}

export interface BundleModules {
  /** Source modules (paths from the repository root, such as node_modules/@azure/identity/…) in the files the run loaded. */
  readonly loaded: readonly string[];
  /** Source modules anywhere in the bundle, loaded or not. */
  readonly bundled: readonly string[];
}

export function bundleModules(taskDir: string, record: string): BundleModules {
  const chunks = JSON.parse(readFileSync(path.join(taskDir, '..', '..', 'chunks', `${path.basename(taskDir)}.json`), 'utf8')) as Record<string, string[]>;
  const files = (JSON.parse(readFileSync(record, 'utf8')) as string[]).filter((file) => path.dirname(file) === taskDir && file.endsWith('.js'));
  const modulesOf = (file: string) => {
    const modules = chunks[file];
    if (!modules) throw new Error(`dist/chunks/${path.basename(taskDir)}.json does not name ${file}, which the run loaded: run \`npm run build\` again`);
    return modules;
  };
  return { loaded: files.flatMap((file) => modulesOf(path.basename(file))), bundled: Object.values(chunks).flat() };
}
