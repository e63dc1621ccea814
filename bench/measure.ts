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

const COLUMNS = ['benchmark', 'measured', 'target', 'ok'] as const;

/** One table of every row, as Markdown (aligned, so it reads in a terminal and pastes into the README). */
export function printTable(title: string, rows: readonly Row[]): void {
  const cells = rows.map((row) => [row.name, row.value, row.target, row.pass ? 'ok' : 'MISSED']);
  const widths = COLUMNS.map((column, i) => Math.max(column.length, ...cells.map((line) => line[i].length)));
  const line = (values: readonly string[]) => `| ${values.map((value, i) => (i === 1 ? value.padStart(widths[i]) : value.padEnd(widths[i]))).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(COLUMNS));
  console.log(`|${widths.map((width, i) => (i === 1 ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`);
  for (const values of cells) console.log(line(values));
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
