/**
 * AKS run command in the AKS stand-in (api-version 2023-08-01), as `az aks command invoke` meets it:
 *
 *   POST .../managedClusters/{name}/runCommand { command, context?: base64 zip, clusterToken? }
 *        -> 202, Location .../commandResults/{id}, Retry-After
 *   GET  .../managedClusters/{name}/commandResults/{id}
 *        -> 202 + Location while it runs; 200 { id, properties: { provisioningState, exitCode, logs, ... } }
 *
 * The command really runs: the context is unzipped (with unzip) into a fresh folder and the command
 * run there by bash, KUBECONFIG pointing at the cluster simulator, so the real kubectl does the work.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { sendJson } from './standInServer';

export const runCommandApiVersion = '2023-08-01';
export const runCommandPath = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ContainerService\/managedClusters\/[^/]+)\/(runCommand|commandResults\/([^/]+))$/i;

export interface RunCommandRecord {
  readonly id: string;
  readonly command: string;
  contextFiles: readonly string[];
  readonly clusterToken?: string;
  state: 'Running' | 'Succeeded' | 'Failed';
  exitCode?: number;
  logs: string;
  reason?: string;
}

/** The run commands the stand-in took, in order; `kubeconfig` is the file the commands use. */
export class RunCommands {
  readonly records: RunCommandRecord[] = [];
  /** Polls answered while commands ran. */
  polls = 0;

  constructor(private readonly kubeconfig: string | undefined) {}

  /** Answers a runCommand or commandResults request, or returns false when the path is neither. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, origin: string, record: (status: number) => void): boolean {
    const match = runCommandPath.exec(url.pathname);
    if (!match) return false;
    const reply = (status: number, body: object, headers: http.OutgoingHttpHeaders = {}) => {
      record(status);
      sendJson(res, status, body, headers);
    };
    if (url.searchParams.get('api-version') !== runCommandApiVersion) {
      reply(400, { error: { code: 'InvalidApiVersionParameter', message: `The api-version '${url.searchParams.get('api-version')}' is invalid.` } });
      return true;
    }
    const resultUrl = (id: string) => `${origin}${match[1]}/commandResults/${id}?api-version=${runCommandApiVersion}`;
    if (match[3]) {
      const found = this.records.find((one) => one.id === match[3]);
      if (!found) reply(404, { error: { code: 'NotFound', message: `No command ${match[3]}.` } });
      else if (found.state === 'Running') {
        this.polls++;
        reply(202, {}, { location: resultUrl(found.id), 'retry-after': '0' });
      } else reply(200, { id: found.id, properties: { provisioningState: found.state, exitCode: found.exitCode, logs: found.logs, reason: found.reason, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() } });
      return true;
    }
    if (req.method !== 'POST') {
      reply(405, { error: { code: 'MethodNotAllowed', message: 'runCommand takes POST.' } });
      return true;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: { command?: unknown; context?: unknown; clusterToken?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { error: { code: 'InvalidRequestContent', message: 'The request content is not JSON.' } });
      }
      if (typeof body.command !== 'string' || !body.command) return reply(400, { error: { code: 'InvalidParameter', message: "The value of parameter command is invalid." } });
      const id = randomBytes(16).toString('hex');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aks-run-command-'));
      const run: RunCommandRecord = { id, command: body.command, contextFiles: [], state: 'Running', logs: '', ...(typeof body.clusterToken === 'string' ? { clusterToken: body.clusterToken } : {}) };
      this.records.push(run);
      reply(202, {}, { location: resultUrl(id), 'retry-after': '1' });
      void this.execute(run, dir, typeof body.context === 'string' ? Buffer.from(body.context, 'base64') : undefined);
    });
    return true;
  }

  private async execute(run: RunCommandRecord, dir: string, context: Buffer | undefined): Promise<void> {
    try {
      if (context) {
        fs.writeFileSync(path.join(dir, '.context.zip'), context);
        const unzip = await this.spawn('unzip', ['-q', '.context.zip'], dir);
        fs.rmSync(path.join(dir, '.context.zip'));
        if (unzip.code !== 0) return this.finish(run, 'Failed', undefined, '', `the context is not a zip: ${unzip.output}`);
        run.contextFiles = fs.readdirSync(dir);
      }
      if (!this.kubeconfig) return this.finish(run, 'Failed', undefined, '', 'the stand-in has no cluster to run commands against');
      const result = await this.spawn('bash', ['-c', run.command], dir);
      this.finish(run, 'Succeeded', result.code, result.output);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private finish(run: RunCommandRecord, state: 'Succeeded' | 'Failed', exitCode: number | undefined, logs: string, reason?: string): void {
    Object.assign(run, { state, exitCode, logs, reason });
  }

  private spawn(command: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
      const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH, HOME: cwd, ...(this.kubeconfig ? { KUBECONFIG: this.kubeconfig } : {}) } });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.on('error', (error) => resolve({ code: 127, output: String(error) }));
      child.on('close', (code) => resolve({ code: code ?? 1, output }));
    });
  }
}
