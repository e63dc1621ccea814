/**
 * What the network layer is configured with: the agent's proxy and certificates, and the deadlines
 * every request gets unless it asks for others. Plain data, built by pipeline/network.ts from the
 * agent's settings (or by a test), so nothing below reads the environment.
 */

export interface ProxySettings {
  /** http(s)://host:port of the proxy, without credentials. */
  readonly url: URL;
  readonly username?: string;
  /** Non-enumerable when built by proxySettings(), so a dump of the settings never shows it. */
  readonly password?: string;
  /**
   * Requests whose URL matches one of these go direct. The agent's bypass list holds regular
   * expressions matched against the whole URL, case-insensitively, as task-lib matches them.
   */
  readonly bypass: readonly RegExp[];
}

export interface ClientCertificate {
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** A PKCS#12 archive instead of cert and key. */
  readonly pfx?: Buffer;
  readonly passphrase?: string;
}

export interface TlsSettings {
  /** PEM certificates to trust besides the public roots: the agent's CA file, NODE_EXTRA_CA_CERTS. */
  readonly ca: readonly string[];
  /** The agent's client certificate, presented to every https peer that does not bring its own. */
  readonly clientCertificate?: ClientCertificate;
}

/** Per-request time limits. The task's overall deadline and cancel come as an AbortSignal. */
export interface Deadlines {
  /** TCP and TLS set-up, through the proxy when there is one. */
  readonly connectMs: number;
  /** From the last request byte sent to the complete response headers. */
  readonly responseMs: number;
  /** No byte either way for this long. */
  readonly idleMs: number;
  /** A whole bounded body (JSON, a manifest, an error page): a trickling peer cannot hold a read open. */
  readonly bodyMs: number;
}

export interface NetworkSettings {
  readonly proxy?: ProxySettings;
  readonly tls: TlsSettings;
  readonly deadlines: Deadlines;
}

export const DEFAULT_DEADLINES: Deadlines = Object.freeze({ connectMs: 30_000, responseMs: 60_000, idleMs: 60_000, bodyMs: 60_000 });

/** Settings with the defaults filled in; `directNetworkSettings()` is what tests and the demo use. */
export function networkSettings(given: { proxy?: ProxySettings; tls?: Partial<TlsSettings>; deadlines?: Partial<Deadlines> } = {}): NetworkSettings {
  const deadlines = Object.fromEntries(Object.entries(given.deadlines ?? {}).filter(([, value]) => value !== undefined));
  return Object.freeze({
    ...(given.proxy ? { proxy: given.proxy } : {}),
    tls: Object.freeze({ ca: given.tls?.ca ?? [], ...(given.tls?.clientCertificate ? { clientCertificate: given.tls.clientCertificate } : {}) }),
    deadlines: Object.freeze({ ...DEFAULT_DEADLINES, ...deadlines }),
  });
}

export function directNetworkSettings(): NetworkSettings {
  return networkSettings();
}

/** A proxy value whose password stays out of dumps and copies. */
export function proxySettings(url: URL, bypass: readonly RegExp[], username?: string, password?: string): ProxySettings {
  const clean = new URL(url.href);
  clean.username = '';
  clean.password = '';
  const settings: Record<string, unknown> = { url: clean, bypass, ...(username ? { username } : {}) };
  if (password) Object.defineProperty(settings, 'password', { value: password, enumerable: false });
  return Object.freeze(settings) as unknown as ProxySettings;
}

/**
 * Link-local addresses are the machine's own: the managed-identity endpoint (169.254.169.254) must
 * be reached directly, as no proxy can reach it on the agent's behalf.
 */
function isLinkLocal(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return /^169\.254\.\d{1,3}\.\d{1,3}$/.test(host) || /^fe[89ab][0-9a-f]:/.test(host);
}

/** The proxy a request to `url` goes through, or undefined to go direct. */
export function proxyFor(settings: NetworkSettings, url: URL): ProxySettings | undefined {
  const proxy = settings.proxy;
  if (!proxy || isLinkLocal(url.hostname)) return undefined;
  return proxy.bypass.some((pattern) => pattern.test(url.href)) ? undefined : proxy;
}

/**
 * NO_PROXY as curl reads it: comma- or space-separated host names (a leading dot or '*.' for a
 * domain and its hosts), optionally with a port; '*' bypasses everything. Turned into the same
 * kind of URL patterns as the agent's bypass list.
 */
export function noProxyPatterns(noProxy: string | undefined): RegExp[] {
  return (noProxy ?? '').split(/[\s,]+/).filter(Boolean).map((entry) => {
    if (entry === '*') return /^/;
    const [host, port] = entry.replace(/^\*?\./, '').split(/:(?=\d+$)/);
    const escaped = host.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`^[a-z][a-z0-9+.-]*://(?:[^/@]*@)?(?:[^/@:]*\\.)?${escaped}${port ? `:${port}` : '(?::\\d+)?'}(?:[/?#]|$)`, 'i');
  });
}
