/**
 * Starts Azurite's blob service as a child process on a port the OS picks, for integration tests,
 * e2e tests and benchmarks. Azurite 3.35 accepts `--blobPort 0` and prints the real address
 * ("successfully listens on http://127.0.0.1:PORT"), even with --silent; we read it from there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobSASPermissions,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

/** The well-known development account every Azurite accepts (public, documented by Microsoft). */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** PEM files; the certificate must name 127.0.0.1 (test/support/tls.ts createTestCa makes one). */
  https?: { cert: string; key: string };
  /** `--oauth basic`: accepts bearer tokens (Azurite checks their shape, not their signature). Needs https. */
  oauth?: boolean;
  /** Workspace folder; by default a fresh temporary one, removed by stop(). */
  location?: string;
  startTimeoutMs?: number;
}

export interface Azurite {
  /** e.g. http://127.0.0.1:41234/devstoreaccount1 */
  readonly blobEndpoint: string;
  readonly accountName: string;
  readonly accountKey: string;
  readonly connectionString: string;
  readonly credential: StorageSharedKeyCredential;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Azurite's workspace folder. */
  readonly location: string;
  stop(): Promise<void>;
}

const LISTENING = /successfully listens on (https?):\/\/([^\s:]+):(\d+)/;

function azuriteBlobMain(): string {
  return path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

function azuriteArgs(location: string, options: AzuriteOptions): string[] {
  const args = [
    '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', location,
    '--skipApiVersionCheck', '--disableTelemetry', '--loose', '--silent',
  ];
  if (options.https) args.push('--cert', options.https.cert, '--key', options.https.key);
  if (options.oauth) args.push('--oauth', 'basic');
  return args;
}

/** Resolves with the address Azurite prints once listening; rejects if it exits or stalls first. */
function waitForAddress(child: ChildProcess, timeoutMs: number): Promise<{ protocol: string; host: string; port: number }> {
  return new Promise((resolve, reject) => {
    let output = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`Azurite did not start: ${why}. Its output:\n${output.trim()}`));
    };
    const timer = setTimeout(() => fail(`no address after ${timeoutMs} ms`), timeoutMs);
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const match = LISTENING.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.off('data', onOutput);
      child.stderr?.off('data', onOutput);
      resolve({ protocol: match[1], host: match[2], port: Number(match[3]) });
    };
    const onExit = (code: number | null, signal: string | null) => fail(`exited (code ${code}, signal ${signal})`);
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    child.once('exit', onExit);
    child.once('error', (err) => fail(err.message));
  });
}

/**
 * Any HTTP answer (a 403 for an unsigned request included) means the blob service serves. The
 * certificate is not checked here: it may be signed by a test CA this process does not trust.
 */
function probe(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const request = get(`${url}?comp=list`, { rejectUnauthorized: false }, (response) => {
      response.resume();
      resolve();
    });
    request.on('error', reject);
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function stopper(child: ChildProcess, cleanup: () => void): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const terminate = () => new Promise<void>((resolve) => {
    if (hasExited(child)) return resolve();
    // Azurite closes its server on SIGTERM; SIGKILL is the fallback should it linger.
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
  return () => {
    stopping ??= terminate().then(cleanup);
    return stopping;
  };
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  if (options.oauth && !options.https) throw new Error('Azurite only accepts OAuth over https: pass https too');
  const ownLocation = options.location === undefined;
  const location = options.location ?? fs.mkdtempSync(path.join(os.tmpdir(), 'azurite-'));
  const child = spawn(process.execPath, [azuriteBlobMain(), ...azuriteArgs(location, options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const removeLocation = () => {
    if (ownLocation) fs.rmSync(location, { recursive: true, force: true });
  };
  // A crashed test run must not leave Azurite or its workspace behind.
  const killOnExit = () => {
    child.kill('SIGKILL');
    removeLocation();
  };
  process.once('exit', killOnExit);
  const stop = stopper(child, () => {
    process.off('exit', killOnExit);
    removeLocation();
  });
  try {
    const address = await waitForAddress(child, options.startTimeoutMs ?? 30_000);
    const blobEndpoint = `${address.protocol}://${address.host}:${address.port}/${DEV_ACCOUNT_NAME}`;
    await probe(blobEndpoint);
    // Keep reading so a chatty child never blocks on a full pipe.
    child.stdout?.resume();
    child.stderr?.resume();
    return {
      blobEndpoint,
      accountName: DEV_ACCOUNT_NAME,
      accountKey: DEV_ACCOUNT_KEY,
      connectionString: `DefaultEndpointsProtocol=${address.protocol};AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
      credential: new StorageSharedKeyCredential(DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY),
      host: address.host,
      port: address.port,
      pid: child.pid as number,
      location,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface SasOptions {
  /** Letters as the portal shows them, e.g. 'rl' (read, list) or 'racwdl'. */
  permissions?: string;
  /** Default: an hour from now. A past date makes an expired SAS. */
  expiresOn?: Date;
  startsOn?: Date;
}

type SasTarget = Pick<Azurite, 'blobEndpoint' | 'accountName' | 'accountKey'>;

const inOneHour = () => new Date(Date.now() + 3600_000);
// A minute back so the SAS holds at once despite clock granularity.
const aMinuteAgo = () => new Date(Date.now() - 60_000);

/** A container URL with a service SAS, e.g. for a task input or a listing test. */
export function containerSasUrl(azurite: SasTarget, container: string, options: SasOptions = {}): string {
  const sas = generateBlobSASQueryParameters({
    containerName: container,
    permissions: ContainerSASPermissions.parse(options.permissions ?? 'rl'),
    startsOn: options.startsOn ?? aMinuteAgo(),
    expiresOn: options.expiresOn ?? inOneHour(),
  }, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
  return `${azurite.blobEndpoint}/${container}?${sas.toString()}`;
}

/** One blob's URL with a service SAS. */
export function blobSasUrl(azurite: SasTarget, container: string, blob: string, options: SasOptions = {}): string {
  const sas = generateBlobSASQueryParameters({
    containerName: container,
    blobName: blob,
    permissions: BlobSASPermissions.parse(options.permissions ?? 'r'),
    startsOn: options.startsOn ?? aMinuteAgo(),
    expiresOn: options.expiresOn ?? inOneHour(),
  }, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
  const blobPath = blob.split('/').map(encodeURIComponent).join('/');
  return `${azurite.blobEndpoint}/${container}/${blobPath}?${sas.toString()}`;
}

/** The account (blob service) URL with an account SAS over service, containers and objects. */
export function accountSasUrl(azurite: SasTarget, options: SasOptions = {}): string {
  const sas = generateAccountSASQueryParameters({
    services: AccountSASServices.parse('b').toString(),
    resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
    permissions: AccountSASPermissions.parse(options.permissions ?? 'rl'),
    startsOn: options.startsOn ?? aMinuteAgo(),
    expiresOn: options.expiresOn ?? inOneHour(),
  }, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
  return `${azurite.blobEndpoint}?${sas.toString()}`;
}
