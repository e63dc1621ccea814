/**
 * Runs the real image tools (skopeo, umoci) as child processes, never through a shell, and turns a
 * failure into an error that carries the command line and the tool's own stderr.
 */
import { execFile } from 'node:child_process';

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Arguments that must not reach an error message (credentials). */
function redact(args: readonly string[]): string[] {
  return args.map((arg, i) => (/^--(src-|dest-)?creds$/.test(args[i - 1] ?? '') ? '***' : arg));
}

export function run(tool: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 60_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve({ stdout, stderr });
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      const why = missing ? `${tool} is not installed (apt-get install ${tool})` : (stderr.trim() || error.message);
      reject(new Error(`${tool} ${redact(args).join(' ')} failed: ${why}`));
    });
  });
}
