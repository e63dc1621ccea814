/**
 * Registry authentication as a pluggable step: the client asks for a header, and when the registry
 * answers 401 it hands over the challenge and asks again. Covers Basic, the Docker token flow
 * (Bearer realm/service/scope) and Azure Container Registry's Entra ID exchange.
 */
import { RemoteError } from '../../errors';
import { HttpError, type HttpClient } from './http';

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
  const match = header?.match(/^\s*(Basic|Bearer)\b\s*(.*)$/i);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of match[2].matchAll(/([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) params[key.toLowerCase()] = quoted ?? bare;
  return { scheme: match[1].toLowerCase() as Challenge['scheme'], realm: params.realm, service: params.service, error: params.error };
}

interface TokenResponse {
  token?: string;
  access_token?: string;
  refresh_token?: string;
}

/** ACR's documented user name for a refresh token presented as a password. */
export const ACR_REFRESH_TOKEN_USER = '00000000-0000-0000-0000-000000000000';

export class Authenticator {
  private header: string | undefined;
  private refreshToken: string | undefined;

  constructor(
    private readonly registry: string,
    private readonly credential: RegistryCredential,
    private readonly http: HttpClient,
    private readonly scopes: readonly string[],
    /** Registers every token as a secret the moment it exists. */
    private readonly onSecret: (value: string) => void,
  ) {}

  /** A user name and password another tool (buildah, docker) can log in with, once a challenge was answered. */
  loginCredentials(): { username: string; password: string } | undefined {
    if (this.credential.kind === 'basic') return { username: this.credential.username, password: this.credential.password };
    if (this.credential.kind === 'entra' && this.refreshToken) return { username: ACR_REFRESH_TOKEN_USER, password: this.refreshToken };
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
    const credential = this.credential;
    if (credential.kind === 'basic') return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
    if (credential.kind === 'entra' && this.refreshToken) return `Basic ${Buffer.from(`${ACR_REFRESH_TOKEN_USER}:${this.refreshToken}`).toString('base64')}`;
    throw new RemoteError('RegistryCredentialsRequired', [this.registry]);
  }

  private async bearerToken(challenge: Challenge, afterRejection: boolean): Promise<string> {
    if (!challenge.realm) throw new RemoteError('RegistryAuthUnsupported', [this.registry, 'Bearer challenge without a realm']);
    const realm = new URL(challenge.realm);
    const service = challenge.service ?? this.registry;
    if (this.credential.kind !== 'entra') return this.dockerToken(realm, service);
    // A refused ACR access token may mean the refresh token expired too: start over from Entra ID.
    if (afterRejection || !this.refreshToken) this.refreshToken = await this.exchange(realm, service, this.credential);
    return this.acrAccessToken(realm, service, this.refreshToken);
  }

  /** Docker's token flow: GET realm?service&scope, with Basic credentials when there are some. */
  private async dockerToken(realm: URL, service: string): Promise<string> {
    const url = new URL(realm);
    url.searchParams.set('service', service);
    for (const scope of this.scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (this.credential.kind === 'basic') headers.authorization = this.basicHeader();
    const body = await this.tokenRequest({ method: 'GET', url, headers });
    return this.accept(body.token ?? body.access_token, realm);
  }

  private async exchange(realm: URL, service: string, credential: { tenantId?: string; entraToken: () => Promise<string> }): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'access_token', service, access_token: await credential.entraToken() });
    if (credential.tenantId) form.set('tenant', credential.tenantId);
    const body = await this.postForm(new URL('/oauth2/exchange', realm), form);
    return this.accept(body.refresh_token, realm);
  }

  private async acrAccessToken(realm: URL, service: string, refreshToken: string): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', service, scope: this.scopes.join(' '), refresh_token: refreshToken });
    const body = await this.postForm(realm, form);
    return this.accept(body.access_token, realm);
  }

  private postForm(url: URL, form: URLSearchParams): Promise<TokenResponse> {
    const bytes = Buffer.from(form.toString());
    return this.tokenRequest({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': bytes.length }, body: bytes });
  }

  private accept(token: string | undefined, realm: URL): string {
    if (!token) throw new RemoteError('RegistryTokenFailed', [realm.origin + realm.pathname, 'the response holds no token']);
    this.onSecret(token);
    return token;
  }

  private async tokenRequest(request: Parameters<HttpClient['send']>[0]): Promise<TokenResponse> {
    const response = await this.http.send(request);
    const text = await response.text();
    const where = request.url.origin + request.url.pathname;
    if (response.status === 401 || response.status === 403) throw new RemoteError('RegistryCredentialsRejected', [this.registry, where, response.status, summarize(text)]);
    if (response.status >= 500 || response.status === 429) throw new HttpError(`token service ${where} answered ${response.status}`, response.status);
    if (response.status !== 200) throw new RemoteError('RegistryTokenFailed', [where, `HTTP ${response.status}: ${summarize(text)}`]);
    try {
      return JSON.parse(text) as TokenResponse;
    } catch {
      throw new RemoteError('RegistryTokenFailed', [where, 'the response is not JSON']);
    }
  }
}

/** The first part of an error body, on one line: enough to act on, never a wall of HTML. */
export function summarize(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}...` : oneLine || '(empty body)';
}
