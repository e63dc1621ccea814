/** Starts test/support/cluster/serve.ts as a child process and reads its address. */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { ClusterSimulatorOptions } from './index';

export interface ClusterProcess {
  readonly url: string;
  readonly kubeconfig: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export function startClusterProcess(options: Omit<ClusterSimulatorOptions, 'imageBehaviour'> = {}): Promise<ClusterProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'serve.ts'), JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.once('exit', (code) => reject(new Error(`the cluster simulator process exited (${code}) before it was ready`)));
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      buffer += text;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      const { url, kubeconfig } = JSON.parse(buffer.slice(0, newline)) as { url: string; kubeconfig: string };
      resolve({ url, kubeconfig, pid: child.pid as number, stop: () => (child.stdin.end(), exited) });
    });
  });
}
