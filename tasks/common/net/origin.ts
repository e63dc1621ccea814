/**
 * Where a credential may travel. A credential belongs to one origin (scheme, host and port): it
 * never follows a redirect to another origin, and nothing at all follows an https -> http
 * redirect. Callers that hold credentials ask here before each hop.
 */
import { CredentialScopeError } from './errors';

export const MAX_REDIRECTS = 5;

export function originOf(url: URL): string {
  return url.origin;
}

export function sameOrigin(a: URL, b: URL): boolean {
  return a.origin === b.origin;
}

/** Where a redirect leads, and whether the request's credentials may come along. */
export interface RedirectHop {
  readonly url: URL;
  readonly keepCredentials: boolean;
}

/**
 * The next hop of a redirect from `from`. A downgrade from https to http is refused outright (it
 * would expose what the request carries); any other origin gets the request without credentials.
 */
export function redirectHop(from: URL, location: string): RedirectHop {
  let url: URL;
  try {
    url = new URL(location, from);
  } catch {
    throw new CredentialScopeError(from.host, '(unreadable location)', 'the redirect target is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CredentialScopeError(from.host, url.protocol, 'a redirect may only lead to http or https');
  if (from.protocol === 'https:' && url.protocol === 'http:') throw new CredentialScopeError(from.host, url.host, 'a redirect from https to plain http is refused');
  return { url, keepCredentials: sameOrigin(from, url) };
}

/**
 * Whether a credential issued for `home` may be sent to `target` at all: the same origin, or
 * another https origin that the caller has a reason to trust (a token service the registry names,
 * checked by the caller's own rules). Plain http is allowed only to the home origin itself, and
 * only when the user allowed that origin to be insecure.
 */
export function assertCredentialTarget(home: URL, target: URL, options: { readonly insecureHomeAllowed: boolean }): void {
  if (sameOrigin(home, target)) {
    if (target.protocol === 'http:' && !options.insecureHomeAllowed) throw new CredentialScopeError(home.host, target.host, 'credentials are not sent over plain http');
    return;
  }
  if (target.protocol !== 'https:') throw new CredentialScopeError(home.host, target.host, 'credentials go to another host only over https');
}
