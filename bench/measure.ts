import { spawn } from 'node:child_process';

/** One benchmark line: what was measured, the figure, and the target it is held to. */
export interface Row {
  readonly name: string;
  readonly value: string;
  readonly target: string;
  readonly pass: boolean;
}

export function ratioRow(name: string, ratio: number, atLeast: number): Row {
  return { name, value: `${ratio.toFixed(2)}x`, target: `>= ${atLeast}x`, pass: ratio >= atLeast };
}

export function printTable(title: string, rows: readonly Row[]): void {
  const width = Math.max(...rows.map((row) => row.name.length), 10);
  console.log(`\n${title}\n${'-'.repeat(width + 36)}`);
  for (const row of rows) console.log(`${row.name.padEnd(width)}  ${row.value.padStart(12)}  ${row.target.padEnd(12)}  ${row.pass ? 'ok' : 'MISSED'}`);
}

/** Runs a command to completion and returns its wall time in milliseconds; fails loudly on error. */
export function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ ms: performance.now() - started, stdout }) : reject(new Error(`${command} exited ${code}: ${stderr.slice(0, 500)}`))));
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
