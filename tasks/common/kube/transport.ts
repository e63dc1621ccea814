/**
 * What every request to one cluster carries, taken from its kubeconfig the way kubectl takes it:
 * the credentials from client-node's own authenticators (a token, Basic, a client certificate, an
 * exec plugin's ExecCredential), TLS that trusts only the cluster's CA, and the cluster's
 * `proxy-url` when it names one (else the agent's proxy). Sent by the network layer.
 */
import * as childProcess from 'node:child_process';
import type * as https from 'node:https';
import { basename } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { TaskError } from '../errors';
import type { KubeRequestAuth } from '../net/adapters/kubeHttp';
import { stoppedBy } from '../net/errors';
import { Network, type PeerTls } from '../net/network';
import { networkSettings, proxySettings } from '../net/settings';
import { KubeconfigError } from './kubeconfig';

/** An exec plugin that has not printed its credential by then is stopped (kubelogin takes seconds). */
export const EXEC_PLUGIN_TIMEOUT_MS = 60_000;

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text) || undefined;
  } catch {
    return text || undefined;
  }
}

/**
 * The network for this cluster: the agent's, or one through the cluster's own proxy-url (with the
 * agent's certificates and deadlines). client-node also knows socks proxies; the network layer does
 * not, so those are refused by name rather than silently ignored.
 */
export function clusterNetwork(config: KubeConfig, network: Network): Network {
  const cluster = config.getCurrentCluster();
  if (!cluster?.proxyUrl) return network;
  let url: URL | undefined;
  try {
    url = new URL(cluster.proxyUrl);
  } catch {
    // reported below
  }
  const scheme = url?.protocol.replace(/:$/, '') ?? '(not a URL)';
  if (!url || (scheme !== 'http' && scheme !== 'https')) {
    throw new KubeconfigError('proxy', `cluster '${cluster.name}' has a proxy-url of scheme '${scheme}', and only http(s) proxies are supported`, [], [cluster.name, scheme]);
  }
  const proxy = proxySettings(url, [], decoded(url.username), decoded(url.password));
  return new Network(networkSettings({ proxy, tls: network.settings.tls, deadlines: network.settings.deadlines }));
}

interface ExecAuthenticator {
  execFn: typeof childProcess.spawn;
  tokenCache: Record<string, { status?: { expirationTimestamp?: string } } | null>;
}

/** client-node's exec authenticator among the config's own (it is not exported): the one with a spawn hook. */
function execAuthenticator(config: KubeConfig): ExecAuthenticator | undefined {
  const authenticators = (config as unknown as { authenticators?: unknown[] }).authenticators ?? [];
  return authenticators.find((candidate) => typeof (candidate as Partial<ExecAuthenticator>).execFn === 'function') as ExecAuthenticator | undefined;
}

/**
 * client-node runs exec plugins without a shell, as kubectl does, but waits for them for ever: the
 * plugin gets the task's cancel and a time limit.
 */
function boundExecPlugins(exec: ExecAuthenticator | undefined, signal: AbortSignal): void {
  if (!exec) return;
  exec.execFn = ((command: string, args: readonly string[], options: childProcess.SpawnOptions = {}) =>
    childProcess.spawn(command, args ?? [], { ...options, signal, timeout: EXEC_PLUGIN_TIMEOUT_MS, shell: false })) as typeof childProcess.spawn;
}

/**
 * kubectl keeps a credential without expirationTimestamp for the life of the process; client-node
 * would run the plugin again for every request. Such a credential is kept until the task ends.
 */
function keepCredentialWithoutExpiry(exec: ExecAuthenticator | undefined, user: string): void {
  const status = exec?.tokenCache[user]?.status;
  if (status && !status.expirationTimestamp) status.expirationTimestamp = new Date(8.64e15).toISOString();
}

function definedFields<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined && field !== false)) as T;
}

/** Why a user's credentials could not be made: never the plugin's output, which may hold a token. */
function credentialProblem(config: KubeConfig, error: unknown): string {
  const exec = config.getCurrentUser()?.exec as { command?: unknown } | undefined;
  const plugin = exec && typeof exec.command === 'string' ? `its exec plugin '${basename(exec.command)}'` : undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return `${plugin ?? 'a file it names'} could not be run or read (${code})`;
  if (!plugin) return 'client-node could not use its credentials';
  if (error instanceof SyntaxError) return `${plugin} did not print an ExecCredential (JSON)`;
  const stderr = (error instanceof Error ? error.message : '').split(/\r?\n/).find((line) => line.trim()) ?? '';
  return stderr ? `${plugin} failed: ${stderr.trim().slice(0, 200)}` : `${plugin} failed or ran longer than ${EXEC_PLUGIN_TIMEOUT_MS / 1000} s`;
}

function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(stoppedBy(signal));
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(stoppedBy(signal));
    signal.addEventListener('abort', stop, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/**
 * Headers and TLS for each request. client-node's applyToHTTPSOptions runs the user's
 * authenticator (an exec plugin's token is cached until its expirationTimestamp) and reads the
 * cluster's CA and the user's certificate, from data or from files. Credentials that cannot be
 * made are told by `failure`, for where the kubeconfig came from.
 */
export function kubeAuth(config: KubeConfig, taskSignal: AbortSignal, failure: (error: KubeconfigError) => TaskError): (signal?: AbortSignal) => Promise<KubeRequestAuth> {
  const exec = execAuthenticator(config);
  boundExecPlugins(exec, taskSignal);
  const user = config.getCurrentUser()?.name ?? '(none)';
  return async (signal) => {
    const options: https.RequestOptions = { headers: {} };
    try {
      await withSignal(config.applyToHTTPSOptions(options), signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      const problem = credentialProblem(config, error);
      throw failure(new KubeconfigError('credentials', `the credentials of user '${user}' could not be prepared: ${problem}`, [], [user, problem]));
    }
    keepCredentialWithoutExpiry(exec, user);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) if (value !== undefined) headers[name] = String(value);
    if (options.auth) headers.Authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const tls: PeerTls = definedFields({
      onlyCa: options.ca as Buffer | undefined, cert: options.cert as Buffer | undefined, key: options.key as Buffer | undefined,
      skipVerify: options.rejectUnauthorized === false, servername: options.servername,
    });
    return { headers, tls };
  };
}
