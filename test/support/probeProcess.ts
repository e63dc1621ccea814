/**
 * Runs a probe script (a test/support module that acts when its env variable is set) in a child
 * Node, where NODE_EXTRA_CA_CERTS and the stand-ins' environment take effect at start-up, and reads
 * the JSON result it prints as its last line.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

export interface ProbeProcessRun<T> {
  readonly result: T;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runProbeProcess<T>(script: string, env: Readonly<Record<string, string | undefined>>): Promise<ProbeProcessRun<T>> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  try {
    return { result: JSON.parse(stdout.trim().split('\n').pop() ?? '') as T, stdout, stderr };
  } catch {
    throw new Error(`${path.basename(script)} exited with ${code} and no result.\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
}
