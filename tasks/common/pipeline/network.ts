/**
 * The network settings of the agent the task runs on: its proxy (Agent.ProxyUrl, user, password
 * and bypass list, as task-lib's getHttpProxyConfiguration reports them) and its certificates
 * (Agent.CAInfo, Agent.ClientCert and key or archive, from getHttpCertConfiguration). Without an
 * agent proxy, the usual HTTPS_PROXY / HTTP_PROXY / NO_PROXY variables apply, as curl reads them.
 */
import * as fs from 'node:fs';
import { InputError } from './inputError';
import { type ClientCertificate, type NetworkSettings, type ProxySettings, networkSettings, noProxyPatterns, proxySettings } from '../net/settings';

/** What task-lib reports, in its own shapes; a test passes plain objects. */
export interface AgentNetworkConfiguration {
  readonly proxy: { proxyUrl: string; proxyUsername?: string; proxyPassword?: string; proxyBypassHosts?: string[] } | null;
  readonly cert: { caFile?: string; certFile?: string; keyFile?: string; certArchiveFile?: string; passphrase?: string } | null;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function proxyUrl(text: string, source: string): URL {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // reported below
  }
  // The value may carry a password: name the setting, never echo it.
  throw new InputError(source, 'ProxyUrlInvalid', [source]);
}

function agentProxy(configuration: AgentNetworkConfiguration): ProxySettings | undefined {
  const { proxy, env } = configuration;
  if (proxy?.proxyUrl) {
    const url = proxyUrl(proxy.proxyUrl, 'Agent.ProxyUrl');
    const bypass = (proxy.proxyBypassHosts ?? []).map((pattern) => new RegExp(pattern, 'i'));
    return proxySettings(url, bypass, proxy.proxyUsername || decodeURIComponent(url.username) || undefined, proxy.proxyPassword || decodeURIComponent(url.password) || undefined);
  }
  const name = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].find((key) => env[key]);
  if (!name) return undefined;
  const url = proxyUrl(env[name]!, name);
  return proxySettings(url, noProxyPatterns(env.NO_PROXY ?? env.no_proxy), decodeURIComponent(url.username) || undefined, decodeURIComponent(url.password) || undefined);
}

function readSetting(file: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new InputError(setting, 'AgentCertificateUnreadable', [setting, file, (error as NodeJS.ErrnoException).code ?? String(error)]);
  }
}

function readPem(file: string, setting: string): string {
  return readSetting(file, setting).toString('utf8');
}

function clientCertificate(cert: NonNullable<AgentNetworkConfiguration['cert']>): ClientCertificate | undefined {
  if (cert.certArchiveFile) return { pfx: readSetting(cert.certArchiveFile, 'Agent.ClientCertArchive'), passphrase: cert.passphrase };
  if (!cert.certFile) return undefined;
  return { cert: readPem(cert.certFile, 'Agent.ClientCert'), ...(cert.keyFile ? { key: readPem(cert.keyFile, 'Agent.ClientCertKey') } : {}), passphrase: cert.passphrase };
}

/** Settings from what the agent reports; `secret` masks the proxy password before anything could print it. */
export function agentNetworkSettings(configuration: AgentNetworkConfiguration, secret: (value: string) => void): NetworkSettings {
  const proxy = agentProxy(configuration);
  if (proxy?.password) {
    secret(proxy.password);
    secret(Buffer.from(`${proxy.username ?? ''}:${proxy.password}`).toString('base64'));
  }
  const ca: string[] = [];
  // An explicit CA list replaces Node's, NODE_EXTRA_CA_CERTS included: carry that file along.
  const extra = configuration.env.NODE_EXTRA_CA_CERTS;
  if (extra && fs.existsSync(extra)) ca.push(readPem(extra, 'NODE_EXTRA_CA_CERTS'));
  const cert = configuration.cert;
  if (cert?.caFile) ca.push(readPem(cert.caFile, 'Agent.CAInfo'));
  const clientCert = cert ? clientCertificate(cert) : undefined;
  return networkSettings({ ...(proxy ? { proxy } : {}), tls: { ca, ...(clientCert ? { clientCertificate: clientCert } : {}) } });
}
