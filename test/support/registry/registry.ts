/**
 * Starts the real CNCF distribution registry (`docker-registry` 2.8 from Debian) for integration
 * tests, in one of three auth modes:
 *   none  — open, plain http by default.
 *   basic — htpasswd with a bcrypt hash, TLS by default (2.8.2 does not enforce TLS for htpasswd,
 *           the docs only ask for it; plain http works if a test wants it).
 *   token — `auth.token` against our TokenIssuer, behind the TokenGate (see tokenGate.ts) so
 *           tokens can expire at once; `host` is the gate's address and the registry's `service`.
 *
 * The port: `http.addr: 127.0.0.1:0` works — distribution listens on what the OS picks and logs
 * `listening on 127.0.0.1:PORT` (`, tls` appended with TLS), which we read. No race, no retries.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import { type TestCa, createTestCa } from '../tls';
import { type TokenGate, startTokenGate } from './tokenGate';
import { type TokenIssuer, type TokenIssuerOptions, startTokenIssuer } from './tokenIssuer';
import { type TokenHeaderStyle, createSigningKey } from './tokens';

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface RegistryOptions {
  auth?: RegistryAuth;
  /** Default: true for basic, false otherwise. */
  tls?: boolean;
  /** Access token lifetime in token mode; the gate enforces exp with no leeway. Default 3600 (issuer.tokenLifetimeSeconds changes it later). */
  tokenLifetimeSeconds?: number;
  /** Token mode: how tokens name their key (both work with distribution 2.8). Default 'kid'. */
  tokenHeader?: TokenHeaderStyle;
  /** Token mode: repositories whose tokens never carry push (issuer.denyPush can change it later). */
  denyPush?: string[];
  /** Token mode: which AAD access tokens /oauth2/exchange accepts. */
  trustAadToken?: TokenIssuerOptions['trustAadToken'];
  /**
   * Token mode: where the token endpoints are. 'registry' (default): on the registry's own host, as
   * with ACR. 'separate': on the issuer's own origin (https when the registry has TLS), as with
   * Docker Hub, whose registry sends clients to auth.docker.io.
   */
  tokenService?: 'registry' | 'separate';
  startTimeoutMs?: number;
}

export interface TestRegistry {
  /** "127.0.0.1:PORT": what goes in an image reference. */
  readonly host: string;
  /** "http(s)://127.0.0.1:PORT" */
  readonly url: string;
  readonly auth: RegistryAuth;
  readonly tls: boolean;
  /** PEM of the CA that signed the registry's certificate (TLS). */
  readonly caPem?: string;
  /** A directory holding only ca.crt: skopeo --cert-dir / --src-cert-dir / --dest-cert-dir. */
  readonly certDir?: string;
  readonly username?: string;
  readonly password?: string;
  readonly issuer?: TokenIssuer;
  readonly storageDir: string;
  /** PID of the docker-registry process. */
  readonly pid: number;
  /** The registry's recent log output (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

const LISTENING = /listening on (\S+?):(\d+)/;
const LOG_LIMIT = 256 * 1024;

type Cleanup = () => Promise<void> | void;

function configYaml(lines: { storageDir: string; secret: string; tls?: { cert: string; key: string }; auth: string[] }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info', // the "listening on" line is logged at info
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(lines.storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    '  addr: 127.0.0.1:0',
    `  secret: ${lines.secret}`,
    ...(lines.tls ? ['  tls:', `    certificate: ${JSON.stringify(lines.tls.cert)}`, `    key: ${JSON.stringify(lines.tls.key)}`] : []),
    ...lines.auth,
    '',
  ].join('\n');
}

/** The environment without REGISTRY_* variables, which would override config.yml. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGISTRY_')));
}

function waitForPort(child: ChildProcess, output: () => string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const finish = (error?: Error, port?: number) => {
      clearTimeout(timer);
      clearInterval(poll);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(port as number);
    };
    const fail = (why: string) => finish(new Error(`docker-registry did not start: ${why}. Its output:\n${output().trim()}`));
    const onExit = (code: number | null, signal: string | null) => fail(`exited (code ${code}, signal ${signal})`);
    const timer = setTimeout(() => fail(`no "listening on" line after ${timeoutMs} ms`), timeoutMs);
    const poll = setInterval(() => {
      const match = LISTENING.exec(output());
      if (match) finish(undefined, Number(match[2]));
    }, 10);
    child.once('exit', onExit);
    child.once('error', (error) => fail((error as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'docker-registry is not installed (apt-get install docker-registry)' : error.message));
  });
}

/** Resolves once GET /v2/ gets any HTTP answer (401 included). */
async function probe(url: string, ca: string | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const get = url.startsWith('https:') ? https.get : http.get;
      get(`${url}/v2/`, { ca }, (res) => {
        res.resume();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`the registry at ${url} does not answer GET /v2/`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function terminate(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

interface AuthSetup {
  readonly configLines: string[];
  readonly gate?: TokenGate;
  readonly issuer?: TokenIssuer;
}

/** Writes what the auth mode needs into `dir` and starts the gate and token server (token mode). */
async function setUpAuth(auth: RegistryAuth, dir: string, user: { username?: string; password?: string }, ca: TestCa | undefined,
  options: RegistryOptions, cleanups: Cleanup[]): Promise<AuthSetup> {
  const username = user.username as string;
  const password = user.password as string;
  if (auth === 'basic') {
    const htpasswd = path.join(dir, 'htpasswd');
    // Cost 4 (bcrypt's minimum): the registry checks the hash on every request.
    fs.writeFileSync(htpasswd, `${username}:${bcrypt.hashSync(password, 4)}\n`);
    return { configLines: ['auth:', '  htpasswd:', '    realm: test-registry', `    path: ${JSON.stringify(htpasswd)}`] };
  }
  if (auth !== 'token') return { configLines: [] };
  const signingKey = createSigningKey(path.join(dir, 'token'));
  // The gate asks the issuer which tokens to refuse; the issuer's service is the gate's host
  // (the registry's public name, as with ACR). Bound late to break the cycle.
  let issuer: TokenIssuer | undefined;
  const gate = await startTokenGate({ tls: ca, isRejected: (token) => issuer?.isRejected(token) ?? false });
  cleanups.push(() => gate.close());
  const separate = options.tokenService === 'separate';
  const started = await startTokenIssuer({
    signingKey, service: gate.host, username, password,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds, headerStyle: options.tokenHeader,
    denyPush: options.denyPush, trustAadToken: options.trustAadToken,
    ...(separate ? { tls: ca } : { publicOrigin: `${ca ? 'https' : 'http'}://${gate.host}` }),
  });
  if (!separate) gate.setTokenService(Number(new URL(started.url).port));
  issuer = started;
  cleanups.push(() => started.close());
  return {
    gate,
    issuer,
    configLines: ['auth:', '  token:', `    realm: ${JSON.stringify(issuer.realm)}`, `    service: ${JSON.stringify(issuer.service)}`,
      `    issuer: ${JSON.stringify(issuer.issuerName)}`, `    rootcertbundle: ${JSON.stringify(signingKey.certificatePath)}`],
  };
}

/** The test CA's files, and a directory holding only ca.crt: skopeo reads every *.crt / *.key in a cert dir. */
function setUpTls(dir: string): { ca: TestCa; caPem: string; certDir: string } {
  const ca = createTestCa(path.join(dir, 'tls'));
  const certDir = path.join(dir, 'certs');
  fs.mkdirSync(certDir);
  fs.copyFileSync(ca.caCert, path.join(certDir, 'ca.crt'));
  return { ca, caPem: fs.readFileSync(ca.caCert, 'utf8'), certDir };
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const tls = options.tls ?? auth === 'basic';
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'test-registry-'));
  const storageDir = path.join(dir, 'storage');
  const cleanups: Cleanup[] = [() => fs.rmSync(dir, { recursive: true, force: true })];
  let child: ChildProcess | undefined;
  // A crashed test run must not leave the registry or its files behind.
  const killOnExit = () => {
    child?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child) await terminate(child);
      process.off('exit', killOnExit);
      for (const cleanup of cleanups.reverse()) await cleanup();
    })();
    return stopping;
  };

  try {
    const certs = tls ? setUpTls(dir) : undefined;
    const user = auth === 'none' ? {} : { username: 'tester', password: randomBytes(12).toString('hex') };
    const { configLines, gate, issuer } = await setUpAuth(auth, dir, user, certs?.ca, options, cleanups);
    const configPath = path.join(dir, 'config.yml');
    fs.writeFileSync(configPath, configYaml({ storageDir, secret: randomBytes(16).toString('hex'), tls: certs?.ca, auth: configLines }));
    let output = '';
    child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-LOG_LIMIT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const port = await waitForPort(child, () => output, timeoutMs);
    const scheme = tls ? 'https' : 'http';
    await probe(`${scheme}://127.0.0.1:${port}`, certs?.caPem, timeoutMs);
    gate?.setUpstream({ port, ca: certs?.caPem });
    const host = gate ? gate.host : `127.0.0.1:${port}`;
    return {
      host, url: `${scheme}://${host}`, auth, tls, caPem: certs?.caPem, certDir: certs?.certDir, ...user, issuer, storageDir,
      pid: child.pid as number,
      logs: () => output,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
