/**
 * Kubeconfig documents as the Deploy task handles them: parsed and checked without ever quoting a
 * value (a kubeconfig is full of credentials), every secret field found so it can be masked, a
 * context picked, TLS checks switched off on request, and an Entra ID exec user (kubelogin) swapped
 * for a bearer token. Pure: no I/O.
 */
import { dump } from 'js-yaml';
import { YamlProblem, loadDocument } from './yamlDocuments';

/**
 * Where a kubeconfig came from, so a problem with it is told as the user knows it (kubeconfigFailure.ts):
 * a Kubernetes service connection, the credentials AKS issued for a cluster reached through an
 * Azure Resource Manager connection, or a kubeconfig handed over as such (tests, the demo).
 */
export type KubeconfigOrigin =
  | { readonly kind: 'serviceConnection'; readonly connection: string }
  | { readonly kind: 'aks'; readonly cluster: string; readonly resourceGroup: string; readonly connection: string; readonly admin: boolean }
  | { readonly kind: 'kubeconfig' };

/** A kubeconfig and where it came from: what connectCluster takes. */
export interface KubeconfigSource {
  /** A kubeconfig (YAML) whose current-context is the cluster to deploy to. */
  readonly kubeconfig: string;
  readonly origin: KubeconfigOrigin;
}

/** What a task needs to talk to the cluster; shared by every way of getting there. */
export interface ResolvedCluster extends KubeconfigSource {
  /** For logs: which cluster and how the task signs in. Never holds a secret. */
  readonly describe: string;
  /** Every credential in `kubeconfig` (already registered with the agent). */
  readonly secrets: readonly string[];
  /** When a short-lived credential in `kubeconfig` (an Entra ID token) stops working. */
  readonly expiresOn?: Date;
}

type Entry = Record<string, unknown>;
export interface Kubeconfig extends Entry {
  clusters: Entry[];
  users: Entry[];
  contexts: Entry[];
  'current-context'?: string;
}

/** The first four are found as the file is read; the others as the task connects with it (kube/cluster.ts, kube/transport.ts). */
export type KubeconfigProblem = 'invalid' | 'noContext' | 'contextMissing' | 'shellCommand' | 'server' | 'proxy' | 'credentials';

/**
 * A kubeconfig that cannot be used. `reason` is safe to show: it names entries (contexts, clusters,
 * users) and at most a server URL or proxy scheme, never a credential. `subject` holds what a
 * problem is about: for 'contextMissing', the context asked for; for 'shellCommand', the user and
 * its auth-provider; for 'server', the cluster and its server; for 'proxy', the cluster and its
 * proxy's scheme; for 'credentials', the user and why its credentials could not be made.
 * kubeconfigFailure.ts turns it into the message for where the kubeconfig came from.
 */
export class KubeconfigError extends Error {
  constructor(readonly problem: KubeconfigProblem, readonly reason: string, readonly contexts: readonly string[] = [], readonly subject: readonly string[] = []) {
    super(reason);
    this.name = 'KubeconfigError';
  }
}

function isEntry(value: unknown): value is Entry {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function namedList(doc: Entry, key: 'clusters' | 'users' | 'contexts', field: string): Entry[] {
  const list = doc[key] ?? [];
  if (!Array.isArray(list)) throw new KubeconfigError('invalid', `'${key}' is not a list`);
  list.forEach((item, index) => {
    if (!isEntry(item) || typeof item.name !== 'string' || !item.name) throw new KubeconfigError('invalid', `${key}[${index}] has no name`);
    if (item[field] !== undefined && !isEntry(item[field])) throw new KubeconfigError('invalid', `${key}[${index}].${field} is not a mapping`);
  });
  return list as Entry[];
}

export function parseKubeconfig(text: string): Kubeconfig {
  let doc: unknown;
  try {
    doc = loadDocument(text);
  } catch (error) {
    if (error instanceof YamlProblem) throw new KubeconfigError('invalid', `it is not valid YAML (${error.reason})`);
    throw error;
  }
  if (!isEntry(doc)) throw new KubeconfigError('invalid', 'it is not a YAML mapping');
  if (doc.kind !== undefined && doc.kind !== 'Config') throw new KubeconfigError('invalid', `its kind is not Config`);
  const clusters = namedList(doc, 'clusters', 'cluster');
  const users = namedList(doc, 'users', 'user');
  const contexts = namedList(doc, 'contexts', 'context');
  if (contexts.length === 0) throw new KubeconfigError('invalid', 'it has no contexts');
  const current = doc['current-context'];
  return { ...doc, clusters, users, contexts, 'current-context': typeof current === 'string' && current ? current : undefined };
}

function byName(list: Entry[], name: unknown): Entry | undefined {
  return list.find((item) => item.name === name);
}

export interface Selection {
  readonly context: string;
  readonly cluster: Entry;
  readonly user: Entry;
  /** The API server URL of the selected cluster. */
  readonly server: string;
}

/** Makes `wanted` (or the file's own current-context) current, checking that what it names exists. */
export function selectContext(doc: Kubeconfig, wanted: string | undefined): Selection {
  const names = doc.contexts.map((context) => String(context.name));
  const name = wanted ?? doc['current-context'];
  if (!name) throw new KubeconfigError('noContext', 'no current-context', names);
  const context = byName(doc.contexts, name);
  if (!context) throw new KubeconfigError('contextMissing', `no context '${name}'`, names, [name]);
  doc['current-context'] = name;
  const fields = isEntry(context.context) ? context.context : {};
  const cluster = byName(doc.clusters, fields.cluster);
  if (!cluster || !isEntry(cluster.cluster)) throw new KubeconfigError('invalid', `context '${name}' names a cluster the file does not define`);
  const user = byName(doc.users, fields.user);
  if (!user) throw new KubeconfigError('invalid', `context '${name}' names a user the file does not define`);
  const server = cluster.cluster.server;
  if (typeof server !== 'string' || !/^https?:\/\/[^/]/i.test(server)) throw new KubeconfigError('invalid', `cluster of context '${name}' has no https server URL`);
  refuseShellCommand(user);
  return { context: name, cluster, user, server };
}

/**
 * An auth-provider's cmd-path (the legacy gcp and azure providers) is run by client-node through a
 * shell, with its cmd-args appended: whatever the kubeconfig says, the shell would interpret.
 * Refused. An exec plugin is run without a shell, as kubectl runs it, and is kept.
 */
function refuseShellCommand(user: Entry): void {
  const fields = isEntry(user.user) ? user.user : {};
  const provider = isEntry(fields['auth-provider']) ? fields['auth-provider'] : undefined;
  const config = provider && isEntry(provider.config) ? provider.config : {};
  if (config['cmd-path'] === undefined) return;
  const providerName = typeof provider?.name === 'string' ? provider.name : '(unnamed)';
  const userName = String(user.name);
  throw new KubeconfigError('shellCommand', `user '${userName}' signs in through auth-provider '${providerName}' with cmd-path, a command run through a shell`, [], [userName, providerName]);
}

function pushString(out: string[], value: unknown): void {
  if (typeof value === 'string' && value.trim()) out.push(value.trim());
}

/** Every credential the users hold: tokens, passwords, client keys (and their decoded PEM), auth-provider and exec secrets. */
export function kubeconfigSecrets(doc: Kubeconfig): string[] {
  const out: string[] = [];
  for (const entry of doc.users) {
    const user = isEntry(entry.user) ? entry.user : {};
    pushString(out, user.token);
    pushString(out, user.password);
    if (typeof user['client-key-data'] === 'string') {
      pushString(out, user['client-key-data']);
      pushString(out, Buffer.from(user['client-key-data'], 'base64').toString('utf8'));
    }
    const provider = isEntry(user['auth-provider']) && isEntry(user['auth-provider'].config) ? user['auth-provider'].config : {};
    for (const key of ['access-token', 'refresh-token', 'id-token', 'client-secret']) pushString(out, provider[key]);
    const env = isEntry(user.exec) && Array.isArray(user.exec.env) ? user.exec.env : [];
    for (const variable of env) if (isEntry(variable)) pushString(out, variable.value);
    for (const value of secretArguments(isEntry(user.exec) && Array.isArray(user.exec.args) ? user.exec.args : [])) pushString(out, value);
  }
  for (const entry of doc.clusters) pushString(out, proxyPassword(isEntry(entry.cluster) ? entry.cluster['proxy-url'] : undefined));
  return [...new Set(out)];
}

/** Values of exec plugin flags that carry a credential: `--client-secret x` or `--client-secret=x`. */
function secretArguments(args: readonly unknown[]): string[] {
  const flag = /^--?[\w-]*(secret|password|token)[\w-]*$/i;
  const values: string[] = [];
  args.forEach((arg, index) => {
    const text = String(arg);
    const [name, ...rest] = text.split('=');
    if (rest.length > 0 && flag.test(name)) values.push(rest.join('='));
    else if (flag.test(text) && index + 1 < args.length) values.push(String(args[index + 1]));
  });
  return values;
}

/** The password in a cluster's proxy-url (http://user:password@proxy:3128), decoded as it is sent. */
function proxyPassword(proxyUrl: unknown): string | undefined {
  if (typeof proxyUrl !== 'string') return undefined;
  try {
    const password = new URL(proxyUrl).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}

/** Fields whose value is a credential, one value per line as kubeconfig writers put them. */
const credentialLine = /^\s*-?\s*(?:token|password|client-key-data|access-token|refresh-token|id-token|client-secret):\s*["']?([^"'\s]+)["']?\s*$/;

/** Credential values found line by line in raw text: registered before the text is parsed at all. */
export function credentialValuesIn(text: string): string[] {
  return text.split(/\r?\n/).map((line) => credentialLine.exec(line)?.[1]).filter((value): value is string => !!value && value.length >= 4);
}

/** Like kubectl --insecure-skip-tls-verify: kubectl refuses a CA together with the flag, so the CA goes. */
export function skipTlsVerify(doc: Kubeconfig): void {
  for (const entry of doc.clusters) {
    const cluster = entry.cluster as Entry;
    delete cluster['certificate-authority-data'];
    delete cluster['certificate-authority'];
    cluster['insecure-skip-tls-verify'] = true;
  }
}

/** The well-known application id of the AKS Microsoft Entra server ("Azure Kubernetes Service AAD Server"). */
export const aksEntraServerAppId = '6dae42f8-4368-4678-94ff-3960e28e3630';

/**
 * The Entra ID server application an AKS user signs in to, when the user is the exec plugin
 * kubelogin (`get-token --server-id <id>`) or the legacy `azure` auth-provider; undefined otherwise.
 */
export function entraServerIdOf(user: Entry): string | undefined {
  const fields = isEntry(user.user) ? user.user : {};
  const exec = isEntry(fields.exec) ? fields.exec : undefined;
  if (exec && /(^|[\\/])kubelogin(\.exe)?$/i.test(String(exec.command ?? ''))) {
    const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
    const index = args.indexOf('--server-id');
    return index >= 0 && args[index + 1] ? args[index + 1] : aksEntraServerAppId;
  }
  const provider = isEntry(fields['auth-provider']) ? fields['auth-provider'] : undefined;
  if (provider?.name === 'azure') {
    const config = isEntry(provider.config) ? provider.config : {};
    return typeof config['apiserver-id'] === 'string' && config['apiserver-id'] ? config['apiserver-id'] : aksEntraServerAppId;
  }
  return undefined;
}

/**
 * How an Entra ID user would sign in, when that needs a person: kubelogin with device code or
 * interactive login (its default is device code), or the azure auth-provider kubectl dropped in 1.26.
 */
export function interactiveEntraLogin(user: Entry): string | undefined {
  const fields = isEntry(user.user) ? user.user : {};
  if (isEntry(fields['auth-provider']) && fields['auth-provider'].name === 'azure') return 'the azure auth-provider';
  const exec = isEntry(fields.exec) ? fields.exec : undefined;
  if (!exec || !/(^|[\\/])kubelogin(\.exe)?$/i.test(String(exec.command ?? ''))) return undefined;
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  const flag = args.findIndex((arg) => arg === '--login' || arg === '-l');
  const login = flag >= 0 ? args[flag + 1] : 'devicecode';
  return login === 'devicecode' || login === 'interactive' ? `kubelogin --login ${login}` : undefined;
}

/** Replaces a user's credentials with a static bearer token (no kubelogin binary needed). */
export function useBearerToken(user: Entry, token: string): void {
  user.user = { token };
}

export function serializeKubeconfig(doc: Kubeconfig): string {
  return dump(doc, { lineWidth: -1, noRefs: true });
}

/** `host[:port]` of a server URL: for messages, without any user info, path or query it may carry. */
export function serverHost(server: string): string {
  try {
    return new URL(server).host;
  } catch {
    return '(unknown server)';
  }
}
