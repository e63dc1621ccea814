/**
 * The token server a distribution registry in `auth.token` mode sends clients to, speaking both
 * dialects an ACR client meets:
 *
 *   GET  /oauth2/token?service=&scope=...   Docker token auth with Basic credentials (skopeo, docker)
 *        -> { token, access_token, expires_in, issued_at }
 *   POST /oauth2/exchange                   ACR: grant_type=access_token, service, tenant,
 *        access_token (an AAD token) -> { refresh_token }          (Azure/acr docs/AAD-OAuth.md)
 *   POST /oauth2/token                      grant_type=refresh_token (an ACR refresh token) -> { access_token },
 *        or grant_type=password with username/password -> { access_token, expires_in, ... }
 *
 * As with ACR, Basic credentials may also be the null GUID with an ACR refresh token as password.
 * Access is granted per requested action and never beyond it; `denyPush` withholds push/delete.
 * Errors use ACR's `{"errors":[{code,message}]}` shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Claims, decodeJwt, nowSeconds } from '../jwt';
import { type RunningServer, type ServerTls, readBody, sendJson, startServer } from '../standInServer';
import { type Scope, type SigningKey, type TokenHeaderStyle, formatScope, mintToken, parseScopes, verifyOwnToken } from './tokens';

export const NULL_GUID = '00000000-0000-0000-0000-000000000000';
const AAD_AUDIENCES = ['https://management.azure.com/', 'https://management.azure.com', 'https://containerregistry.azure.net', 'https://containerregistry.azure.net/'];

export interface TokenIssuerOptions {
  readonly signingKey: SigningKey;
  /** The registry's `auth.token.service`; tokens carry it as `aud`. */
  readonly service: string;
  readonly issuerName?: string;
  readonly username: string;
  readonly password: string;
  /** Access token lifetime (exp - iat and expires_in). Default 3600. */
  readonly tokenLifetimeSeconds?: number;
  readonly refreshTokenLifetimeSeconds?: number;
  readonly headerStyle?: TokenHeaderStyle;
  /** Repositories whose tokens never carry push or delete. */
  readonly denyPush?: readonly string[];
  /** Whether an AAD access token may be exchanged. Default: a JWT for ARM or ACR's audience, not expired. */
  readonly trustAadToken?: (token: string) => boolean;
  /** Serve over TLS (a token service on its own https origin, as Docker Hub's). */
  readonly tls?: ServerTls;
  /** The origin clients reach the issuer at, when a front serves /oauth2/ for it (as ACR's registry host does). */
  readonly publicOrigin?: string;
}

export interface IssuerRequest {
  readonly method: string;
  readonly path: string;
  readonly grantType?: string;
  /** Requested scopes, one per entry, as sent (`repository:team/app:pull,push`). */
  readonly scopes: string[];
  readonly service?: string;
  /** Who asked: the Basic user, or the subject of the ACR refresh token. */
  readonly account?: string;
  readonly status: number;
}

export interface TokenIssuer {
  readonly url: string;
  /** `${url}/oauth2/token`: the realm of the registry's challenge. */
  readonly realm: string;
  readonly service: string;
  readonly issuerName: string;
  readonly requests: IssuerRequest[];
  /** Mutable: add a repository to make later tokens lack push on it. */
  readonly denyPush: Set<string>;
  /** Mutable: the lifetime of access tokens issued from now on (e.g. short, after a normal base push). */
  tokenLifetimeSeconds: number;
  /** Access tokens issued so far stop working at the registry at once (see tokenGate.ts). */
  expireIssuedTokens(): void;
  /** Whether the registry front must refuse this bearer token (expired or revoked access token). */
  isRejected(token: string): boolean;
  /** An access token as /oauth2/token would grant it, for tests that need one directly. */
  issueAccessToken(scopes: readonly string[], subject?: string): string;
  /** An ACR refresh token, as /oauth2/exchange would return it. */
  issueRefreshToken(subject: string, tenant?: string): string;
  close(): Promise<void>;
}

class IssuerError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function defaultTrustAadToken(token: string): boolean {
  const claims = decodeJwt(token)?.payload;
  if (!claims || !AAD_AUDIENCES.includes(String(claims.aud))) return false;
  return typeof claims.exp !== 'number' || claims.exp > nowSeconds();
}

function basicCredentials(req: IncomingMessage): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!match) return undefined;
  const text = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

type Draft = { -readonly [K in keyof IssuerRequest]?: IssuerRequest[K] } & { scopes: string[] };

/** The issuer's state and rules; the HTTP routing is in startTokenIssuer. */
class Issuer {
  readonly name: string;
  readonly denyPush: Set<string>;
  lifetime: number;
  private readonly issuedAccess = new Set<string>();
  readonly revoked = new Set<string>();

  constructor(private readonly options: TokenIssuerOptions) {
    this.name = options.issuerName ?? 'model-delivery-test-token-issuer';
    this.denyPush = new Set(options.denyPush ?? []);
    this.lifetime = options.tokenLifetimeSeconds ?? 3600;
  }

  /** The requested actions this issuer allows, and no others. */
  grant(scope: Scope): Scope {
    const known = scope.type === 'repository' ? ['pull', 'push', 'delete', '*'] : scope.type === 'registry' ? ['*'] : [];
    const denied = scope.type === 'repository' && this.denyPush.has(scope.name) ? ['push', 'delete', '*'] : [];
    return { ...scope, actions: scope.actions.filter((a) => known.includes(a) && !denied.includes(a)) };
  }

  accessToken(scopes: Scope[], subject: string): string {
    const access = scopes.map((s) => this.grant(s)).filter((s) => s.actions.length > 0);
    const { token, claims } = mintToken(this.options.signingKey, {
      issuer: this.name, audience: this.options.service, subject, lifetimeSeconds: this.lifetime,
      headerStyle: this.options.headerStyle ?? 'kid', extra: { access, version: '1.0', grant_type: 'access_token' },
    });
    this.issuedAccess.add(String(claims.jti));
    return token;
  }

  /** An ACR refresh token, with the claims Azure/acr docs/AAD-OAuth.md shows. */
  refreshToken(subject: string, tenant?: string): string {
    return mintToken(this.options.signingKey, {
      issuer: this.name, audience: this.options.service, subject,
      lifetimeSeconds: this.options.refreshTokenLifetimeSeconds ?? 3 * 3600, headerStyle: this.options.headerStyle ?? 'kid',
      extra: { version: '1.0', grant_type: 'refresh_token', tenant, permissions: { actions: ['*'], notActions: [] }, roles: [] },
    }).token;
  }

  expireIssued(): void {
    this.issuedAccess.forEach((jti) => this.revoked.add(jti));
  }

  /** The subject of valid credentials: the registry user, or an ACR refresh token with the null GUID as user. */
  account(user: string | undefined, password: string | undefined): string {
    if (user === this.options.username && password === this.options.password) return user;
    if (user === NULL_GUID && password) return this.refreshSubject(password);
    throw new IssuerError(401, 'UNAUTHORIZED', 'authentication required: wrong username or password');
  }

  refreshSubject(token: string): string {
    const claims = verifyOwnToken(this.options.signingKey, token, this.options.service);
    if (!claims || claims.grant_type !== 'refresh_token') throw new IssuerError(401, 'UNAUTHORIZED', 'the refresh token is invalid or expired');
    return String(claims.sub);
  }

  checkService(service: string | null): void {
    if (service !== this.options.service) {
      throw new IssuerError(400, 'BAD_REQUEST', `unknown service ${JSON.stringify(service)}; this registry is ${this.options.service}`);
    }
  }

  /** GET /oauth2/token: Docker token auth with Basic credentials. */
  dockerToken(req: IncomingMessage, form: URLSearchParams, record: Draft): Claims {
    const basic = basicCredentials(req);
    if (!basic) throw new IssuerError(401, 'UNAUTHORIZED', 'authentication required');
    record.account = this.account(basic.user, basic.password);
    this.checkService(form.get('service'));
    const token = this.accessToken(parseScopes(form.getAll('scope')), record.account);
    return { token, access_token: token, expires_in: this.lifetime, issued_at: new Date().toISOString() };
  }

  /** POST /oauth2/token: grant_type refresh_token (ACR) or password (Docker's OAuth2 flow). */
  oauthToken(form: URLSearchParams, record: Draft): Claims {
    this.checkService(form.get('service'));
    const scopes = parseScopes(form.getAll('scope'));
    if (record.grantType === 'refresh_token') {
      record.account = this.refreshSubject(form.get('refresh_token') ?? '');
      return { access_token: this.accessToken(scopes, record.account) };
    }
    if (record.grantType === 'password') {
      record.account = this.account(form.get('username') ?? undefined, form.get('password') ?? undefined);
      return { access_token: this.accessToken(scopes, record.account), expires_in: this.lifetime, issued_at: new Date().toISOString() };
    }
    throw new IssuerError(400, 'UNSUPPORTED_GRANT_TYPE', `grant_type ${JSON.stringify(record.grantType)} is not supported here`);
  }

  /** POST /oauth2/exchange: an AAD access token for an ACR refresh token. */
  exchange(form: URLSearchParams, record: Draft): Claims {
    this.checkService(form.get('service'));
    if (record.grantType !== 'access_token' && record.grantType !== 'access_token_refresh_token') {
      throw new IssuerError(400, 'UNSUPPORTED_GRANT_TYPE', `grant_type ${JSON.stringify(record.grantType)} is not supported; use access_token`);
    }
    const aadToken = form.get('access_token') ?? '';
    if (!aadToken || !(this.options.trustAadToken ?? defaultTrustAadToken)(aadToken)) {
      throw new IssuerError(401, 'UNAUTHORIZED', 'the AAD access token is not valid for this registry');
    }
    const aad = decodeJwt(aadToken)?.payload ?? {};
    record.account = String(aad.upn ?? aad.unique_name ?? aad.oid ?? aad.sub ?? 'aad-principal');
    return { refresh_token: this.refreshToken(record.account, form.get('tenant') ?? undefined) };
  }
}

async function route(issuer: Issuer, req: IncomingMessage, url: URL, record: Draft): Promise<Claims> {
  const form = req.method === 'GET' ? url.searchParams : new URLSearchParams(await readBody(req));
  record.scopes = parseScopes(form.getAll('scope')).map(formatScope);
  record.service = form.get('service') ?? undefined;
  record.grantType = form.get('grant_type') ?? undefined;
  if (url.pathname === '/oauth2/token' && req.method === 'GET') return issuer.dockerToken(req, form, record);
  if (url.pathname === '/oauth2/token' && req.method === 'POST') return issuer.oauthToken(form, record);
  if (url.pathname === '/oauth2/exchange' && req.method === 'POST') return issuer.exchange(form, record);
  throw new IssuerError(404, 'NOT_FOUND', `${req.method} ${url.pathname} is not an endpoint of this token server`);
}

export async function startTokenIssuer(options: TokenIssuerOptions): Promise<TokenIssuer> {
  const issuer = new Issuer(options);
  const requests: IssuerRequest[] = [];
  const server: RunningServer = await startServer(async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const record: Draft = { method: req.method ?? 'GET', path: url.pathname, scopes: [] };
    try {
      const body = await route(issuer, req, url, record);
      requests.push({ ...record, status: 200 } as IssuerRequest);
      sendJson(res, 200, body);
    } catch (error) {
      const failure = error instanceof IssuerError ? error : new IssuerError(500, 'INTERNAL_ERROR', String(error));
      requests.push({ ...record, status: failure.status } as IssuerRequest);
      const challenge = failure.status === 401 ? { 'www-authenticate': `Basic realm="${issuer.name}"` } : undefined;
      sendJson(res, failure.status, { errors: [{ code: failure.code, message: failure.message }] }, challenge);
    }
  }, options.tls);

  return {
    url: server.origin,
    realm: `${options.publicOrigin ?? server.origin}/oauth2/token`,
    service: options.service,
    issuerName: issuer.name,
    requests,
    denyPush: issuer.denyPush,
    get tokenLifetimeSeconds() {
      return issuer.lifetime;
    },
    set tokenLifetimeSeconds(seconds: number) {
      issuer.lifetime = seconds;
    },
    expireIssuedTokens: () => issuer.expireIssued(),
    isRejected: (token) => {
      const claims = decodeJwt(token)?.payload;
      if (!claims) return false; // not ours: the registry itself refuses it
      // RFC 7519: usable only before exp; no leeway, unlike distribution's 60 s.
      return issuer.revoked.has(String(claims.jti)) || (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now());
    },
    issueAccessToken: (scopes, subject = options.username) => issuer.accessToken(parseScopes(scopes), subject),
    issueRefreshToken: (subject, tenant) => issuer.refreshToken(subject, tenant),
    close: () => server.close(),
  };
}
