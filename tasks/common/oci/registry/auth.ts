/**
 * Registry authentication as a pluggable step: the client asks for a header, and when the registry
 * answers 401 it hands over the challenge and asks again. Covers Basic, the Docker token flow
 * (Bearer realm/service/scope) and Azure Container Registry's Entra ID exchange.
 *
 * A challenge is the peer's word, so where it sends us is checked before any credential leaves: a
 * realm must be https (plain http only on an insecure registry's own host), and the Entra token of
 * an ACR connection goes only to https://<registry>/oauth2/exchange.
 */
import { RemoteError } from '../../errors';
import type { Log } from '../../log';
import { BODY_LIMITS, type NetResponse } from '../../net/body';
import { NetworkError, isRetryableStatus } from '../../net/errors';
import type { NetRequest } from '../../net/network';
import { peerValue } from '../digest';

export type RegistryCredential =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** ACR with an Entra ID identity: its token is exchanged for an ACR refresh token, then scoped access tokens. */
  | { readonly kind: 'entra'; readonly tenantId?: string; readonly entraToken: () => Promise<string> };

export interface Challenge {
  readonly scheme: 'basic' | 'bearer';
  readonly realm?: string;
  readonly service?: string;
  readonly error?: string;
}

/** Parses a WWW-Authenticate header such as: Bearer realm="https://x/token",service="x",scope="...". */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  const match = header?.match(/^\s*(Basic|Bearer)(?:\s+(.*))?$/is);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of (match[2] ?? '').matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    const name = key.toLowerCase();
    // The first value of a parameter counts: a later duplicate cannot redirect the token request.
    if (!(name in params)) params[name] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare;
  }
  return { scheme: match[1].toLowerCase() as Challenge['scheme'], realm: params.realm, service: params.service, error: params.error };
}

interface TokenResponse {
  token?: unknown;
  access_token?: unknown;
  refresh_token?: unknown;
}

/** ACR's documented user name for a refresh token presented as a password. */
export const ACR_REFRESH_TOKEN_USER = '00000000-0000-0000-0000-000000000000';

/** What a token may hold to travel in an Authorization header. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

export interface AuthenticatorOptions {
  readonly registry: string;
  /** scheme://registry: the origin the credentials belong to. */
  readonly origin: URL;
  readonly insecure: boolean;
  readonly credential: RegistryCredential;
  readonly scopes: readonly string[];
  /** Registers every token as a secret the moment it exists. */
  readonly onSecret: (value: string) => void;
  readonly log: Log;
  /** One request through the network layer (no retries: the client's call retries the whole exchange). */
  readonly send: (request: Omit<NetRequest, 'signal' | 'tls'>) => Promise<NetResponse>;
}

export class Authenticator {
  private header: string | undefined;
  private refreshToken: string | undefined;

  constructor(private readonly options: AuthenticatorOptions) {}

  private get registry(): string {
    return this.options.registry;
  }

  /** A user name and password another tool (buildah, docker) can log in with, once a challenge was answered. */
  loginCredentials(): { username: string; password: string } | undefined {
    const credential = this.options.credential;
    if (credential.kind === 'basic') return { username: credential.username, password: credential.password };
    if (credential.kind === 'entra' && this.refreshToken) return { username: ACR_REFRESH_TOKEN_USER, password: this.refreshToken };
    return undefined;
  }

  /** Whether the registry is answered with Basic credentials (so a 401 means they are wrong). */
  usesBasic(): boolean {
    return this.header?.startsWith('Basic ') ?? false;
  }

  /** The Authorization header to send, if one is known yet. */
  current(): string | undefined {
    return this.header;
  }

  /**
   * Called with the registry's 401 challenge. `rejected` is the header that was refused: if a newer
   * one exists already (another request refreshed it), that one is used without asking again.
   */
  async renew(challengeHeader: string | undefined, rejected: string | undefined): Promise<string> {
    if (this.header !== undefined && this.header !== rejected) return this.header;
    const challenge = parseChallenge(challengeHeader);
    if (!challenge) throw new RemoteError('RegistryAuthUnsupported', [this.registry, challengeHeader ?? '(no WWW-Authenticate header)']);
    this.header = challenge.scheme === 'basic' ? this.basicHeader() : `Bearer ${await this.bearerToken(challenge, rejected !== undefined)}`;
    return this.header;
  }

  private basicHeader(): string {
    const credential = this.options.credential;
    if (credential.kind === 'basic') return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
    if (credential.kind === 'entra' && this.refreshToken) return `Basic ${Buffer.from(`${ACR_REFRESH_TOKEN_USER}:${this.refreshToken}`).toString('base64')}`;
    throw new RemoteError('RegistryCredentialsRequired', [this.registry]);
  }

  /** The token service a challenge names, if credentials may go there; refused before anything is sent or requested. */
  private realmOf(challenge: Challenge): URL {
    let realm: URL | undefined;
    try {
      realm = new URL(challenge.realm ?? '');
    } catch {
      realm = undefined;
    }
    if (!realm || (realm.protocol !== 'https:' && realm.protocol !== 'http:')) {
      throw new RemoteError('RegistryAuthUnsupported', [this.registry, `a Bearer challenge whose realm ${peerValue(challenge.realm ?? '')} is not an http(s) URL`]);
    }
    this.options.log.debug(`registry ${this.registry} sends token requests to ${realm.host}`);
    const acrOrigin = new URL(`https://${this.registry}`).origin;
    if (this.options.credential.kind === 'entra' && realm.origin !== acrOrigin) throw new RemoteError('RegistryRealmForeign', [this.registry, realm.host, acrOrigin]);
    const ownInsecureHost = this.options.insecure && realm.host === this.options.origin.host;
    if (realm.protocol === 'http:' && !ownInsecureHost) throw new RemoteError('RegistryRealmInsecure', [this.registry, realm.host]);
    return realm;
  }

  private async bearerToken(challenge: Challenge, afterRejection: boolean): Promise<string> {
    const realm = this.realmOf(challenge);
    const service = challenge.service ?? this.registry;
    const credential = this.options.credential;
    if (credential.kind !== 'entra') return this.dockerToken(realm, service);
    // A refused ACR access token may mean the refresh token expired too: start over from Entra ID.
    if (afterRejection || !this.refreshToken) this.refreshToken = await this.exchange(realm, service, credential);
    return this.acrAccessToken(realm, service, this.refreshToken);
  }

  /** Docker's token flow: GET realm?service&scope, with Basic credentials when there are some. */
  private async dockerToken(realm: URL, service: string): Promise<string> {
    const url = new URL(realm);
    url.searchParams.set('service', service);
    for (const scope of this.options.scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (this.options.credential.kind === 'basic') headers.authorization = this.basicHeader();
    const body = await this.tokenRequest({ method: 'GET', url, headers });
    return this.accept(body.token ?? body.access_token, realm);
  }

  /** ACR: the Entra token for a refresh token, at the registry's own /oauth2/exchange only. */
  private async exchange(realm: URL, service: string, credential: { tenantId?: string; entraToken: () => Promise<string> }): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'access_token', service, access_token: await credential.entraToken() });
    if (credential.tenantId) form.set('tenant', credential.tenantId);
    const body = await this.postForm(new URL('/oauth2/exchange', realm), form);
    return this.accept(body.refresh_token, realm);
  }

  private async acrAccessToken(realm: URL, service: string, refreshToken: string): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', service, scope: this.options.scopes.join(' '), refresh_token: refreshToken });
    const body = await this.postForm(realm, form);
    return this.accept(body.access_token, realm);
  }

  private postForm(url: URL, form: URLSearchParams): Promise<TokenResponse> {
    const bytes = Buffer.from(form.toString());
    return this.tokenRequest({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': bytes.length }, body: bytes });
  }

  private accept(token: unknown, realm: URL): string {
    const where = realm.origin + realm.pathname;
    if (typeof token !== 'string' || token === '') throw new RemoteError('RegistryTokenFailed', [where, 'the response holds no token']);
    this.options.onSecret(token);
    if (!HEADER_SAFE.test(token)) throw new RemoteError('RegistryTokenFailed', [where, 'the token holds characters an HTTP header cannot carry']);
    return token;
  }

  private async tokenRequest(request: { method: string; url: URL; headers: Record<string, string | number>; body?: Buffer }): Promise<TokenResponse> {
    const response = await this.options.send(request);
    const where = request.url.origin + request.url.pathname;
    if (response.status === 200) {
      return response.json<TokenResponse>(BODY_LIMITS.json, `a token from ${where}`).catch((error: unknown) => {
        if (error instanceof NetworkError && error.code === 'EBADJSON') throw new RemoteError('RegistryTokenFailed', [where, 'the response is not JSON']);
        throw error;
      });
    }
    const error = await response.statusError();
    if (response.status === 401 || response.status === 403) throw new RemoteError('RegistryCredentialsRejected', [this.registry, where, response.status, error.detail || '(empty body)']);
    // Throttling and server faults are retried with the request that needed the token.
    if (isRetryableStatus(response.status)) throw error;
    throw new RemoteError('RegistryTokenFailed', [where, `HTTP ${response.status}: ${error.detail || '(empty body)'}`]);
  }
}
