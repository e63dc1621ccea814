/**
 * A Microsoft Entra ID stand-in: the identity platform v2 endpoints MSAL uses for the client
 * credentials grant, over HTTPS (MSAL and @azure/identity refuse anything else).
 *
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration   (MSAL checks issuer's origin = authority's)
 *   GET  /common/discovery/instance                        (instance discovery, if ever asked)
 *   POST /{tenant}/oauth2/v2.0/token                       grant_type=client_credentials with
 *        client_secret, or client_assertion = certificate-signed JWT, or a federated OIDC token
 *
 * Errors carry the real AADSTS codes and shapes. Access tokens are HS256 JWTs signed with a key
 * only this process knows, so the ARM stand-in can tell ours from forgeries; tests decode them.
 */
import { type KeyObject, X509Certificate, createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type Claims, decodeJwt, nowSeconds, signHs256, verifyHs256, verifyRsaSignature } from './jwt';
import { type RunningServer, type ServerTls, readBody, sendJson, startServer } from './standInServer';

type AppCredential =
  | { kind: 'secret'; secret: string }
  | { kind: 'certificate'; certificate: X509Certificate }
  | { kind: 'federated'; issuer: string; subject: string; audience: string; publicKey: KeyObject };

export interface TokenRequestRecord {
  readonly tenant: string;
  readonly clientId?: string;
  readonly scope?: string;
  readonly grantType?: string;
  readonly credential?: 'secret' | 'certificate' | 'federated';
  /** 'issued', or the AADSTS code of the refusal. */
  readonly outcome: string;
}

export interface EntraStandIn {
  /** Authority host to put in a connection (ends with '/'). */
  readonly authorityHost: string;
  readonly tokenRequests: readonly TokenRequestRecord[];
  /** Every path asked for, in order (metadata and token requests alike). */
  readonly paths: readonly string[];
  addSecretApp(tenantId: string, clientId: string, secret: string): void;
  addCertificateApp(tenantId: string, clientId: string, certificatePem: string): void;
  /** A federated identity credential: tokens from `issuer` about `subject`, signed by `publicKey`. */
  addFederatedApp(tenantId: string, clientId: string, federation: { issuer: string; subject: string; publicKey: KeyObject; audience?: string }): void;
  /** Issues an access token as the token endpoint would (the managed identity stand-in uses it). */
  issueAccessToken(tenantId: string, clientId: string, audience: string): string;
  /** The claims of a token this stand-in issued and that has not expired; undefined otherwise. */
  verifyAccessToken(token: string): Claims | undefined;
  close(): Promise<void>;
}

/** A record being filled in while a token request is checked. */
type Draft = { -readonly [K in keyof TokenRequestRecord]?: TokenRequestRecord[K] };

const clientAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const federatedAudience = 'api://AzureADTokenExchange';

class TokenError extends Error {
  constructor(readonly status: number, readonly error: string, readonly code: number, description: string) {
    super(description);
  }
}

function oidcConfiguration(origin: string, tenant: string): object {
  const base = `${origin}/${tenant}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${origin}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${base}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${origin}/oidc/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'ver', 'oid'],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
  };
}

/** The body Entra sends with a refusal, description lines separated by CRLF as the real one. */
function sendAadError(res: ServerResponse, origin: string, failure: TokenError): void {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = `${new Date().toISOString().slice(0, 19).replace('T', ' ')}Z`;
  sendJson(res, failure.status, {
    error: failure.error,
    error_description: `AADSTS${failure.code}: ${failure.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [failure.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${origin}/error?code=${failure.code}`,
  });
}

function thumbprints(certificate: X509Certificate): { x5t: string; 'x5t#S256': string } {
  return {
    x5t: createHash('sha1').update(certificate.raw).digest('base64url'),
    'x5t#S256': createHash('sha256').update(certificate.raw).digest('base64url'),
  };
}

/** A client assertion signed with the app's certificate (RFC 7523, as Entra checks it). */
function checkCertificateAssertion(assertion: string, certificate: X509Certificate, clientId: string, tokenEndpoint: string): void {
  const jwt = decodeJwt(assertion);
  if (!jwt) throw new TokenError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
  const expected = thumbprints(certificate);
  const presented = jwt.header['x5t#S256'] ?? jwt.header.x5t;
  if (presented !== expected['x5t#S256'] && presented !== expected.x5t) {
    throw new TokenError(401, 'invalid_client', 700027, `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${String(presented)}']`);
  }
  if (!verifyRsaSignature(jwt, certificate.publicKey)) throw new TokenError(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature.');
  const { aud, iss, sub, exp, nbf } = jwt.payload;
  if (iss !== clientId || sub !== clientId) throw new TokenError(401, 'invalid_client', 700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
  if (aud !== tokenEndpoint) throw new TokenError(401, 'invalid_client', 50012, 'Client assertion audience claim does not match Realm issuer.');
  checkLifetime(exp, nbf);
}

function checkLifetime(exp: unknown, nbf: unknown): void {
  const now = nowSeconds();
  if (typeof exp !== 'number' || exp < now - 300 || (typeof nbf === 'number' && nbf > now + 300)) {
    throw new TokenError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
  }
}

/** A federated assertion (the pipeline's OIDC token): issuer, subject, audience, signature. */
function checkFederatedAssertion(assertion: string, federation: Extract<AppCredential, { kind: 'federated' }>): void {
  const jwt = decodeJwt(assertion);
  if (!jwt) throw new TokenError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
  const { iss, sub, aud, exp, nbf } = jwt.payload;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (iss !== federation.issuer || sub !== federation.subject || !audiences.includes(federation.audience)) {
    throw new TokenError(400, 'invalid_client', 70021, `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(iss)}'. Assertion Subject: '${String(sub)}'. Assertion Audience: '${audiences.join(',')}'.`);
  }
  if (!verifyRsaSignature(jwt, federation.publicKey)) {
    throw new TokenError(400, 'invalid_client', 50013, 'Assertion failed signature validation. [Reason - The key was not found.]');
  }
  checkLifetime(exp, nbf);
}

export async function startEntraStandIn(tls: ServerTls): Promise<EntraStandIn> {
  const apps = new Map<string, AppCredential>();
  const tenants = new Set<string>();
  const tokenRequests: TokenRequestRecord[] = [];
  const paths: string[] = [];
  const signingKey = randomBytes(32);
  let origin = '';

  const issueAccessToken = (tenantId: string, clientId: string, audience: string): string => {
    const now = nowSeconds();
    const oid = createHash('sha256').update(clientId).digest('hex');
    return signHs256({
      aud: audience, iss: `https://sts.windows.net/${tenantId}/`, iat: now, nbf: now, exp: now + 3600,
      appid: clientId, appidacr: '1', idp: `https://sts.windows.net/${tenantId}/`, idtyp: 'app',
      oid: `${oid.slice(0, 8)}-${oid.slice(8, 12)}-${oid.slice(12, 16)}-${oid.slice(16, 20)}-${oid.slice(20, 32)}`,
      tid: tenantId, ver: '1.0', uti: randomUUID(),
    }, signingKey);
  };

  /** Checks a token request and returns the access token, or throws the refusal Entra would send. */
  const grant = (tenant: string, form: URLSearchParams, record: Draft): string => {
    if (!tenants.has(tenant)) throw new TokenError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    if (form.get('grant_type') !== 'client_credentials') throw new TokenError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    const clientId = form.get('client_id');
    if (!clientId) throw new TokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    const app = apps.get(`${tenant}/${clientId}`);
    if (!app) throw new TokenError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`);
    record.credential = app.kind;
    const scope = form.get('scope') ?? '';
    if (!/^\S+\/\.default$/.test(scope)) throw new TokenError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    const assertion = form.get('client_assertion_type') === clientAssertionType ? form.get('client_assertion') : null;
    if (app.kind === 'secret') {
      if (form.get('client_secret') !== app.secret) throw new TokenError(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
    } else if (!assertion) {
      throw new TokenError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    } else if (app.kind === 'certificate') {
      checkCertificateAssertion(assertion, app.certificate, clientId, `${origin}/${tenant}/oauth2/v2.0/token`);
    } else {
      checkFederatedAssertion(assertion, app);
    }
    return issueAccessToken(tenant, clientId, scope.slice(0, -'/.default'.length));
  };

  const server: RunningServer = await startServer(async (req, res, url) => {
    paths.push(url.pathname);
    const segments = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && url.pathname.endsWith('/v2.0/.well-known/openid-configuration') && segments.length === 4) {
      const tenant = segments[0];
      if (!tenants.has(tenant)) return sendAadError(res, origin, new TokenError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found.`));
      return sendJson(res, 200, oidcConfiguration(origin, tenant));
    }
    if (req.method === 'GET' && url.pathname === '/common/discovery/instance') {
      const host = new URL(origin).host;
      return sendJson(res, 200, {
        tenant_discovery_endpoint: `${origin}/common/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      });
    }
    if (req.method === 'POST' && segments.length === 4 && url.pathname.endsWith('/oauth2/v2.0/token')) {
      const form = new URLSearchParams(await readBody(req));
      const record: Draft = {
        tenant: segments[0], clientId: form.get('client_id') ?? undefined, scope: form.get('scope') ?? undefined, grantType: form.get('grant_type') ?? undefined,
      };
      try {
        const accessToken = grant(segments[0], form, record);
        tokenRequests.push({ ...record, tenant: segments[0], outcome: 'issued' });
        return sendJson(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: accessToken });
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        tokenRequests.push({ ...record, tenant: segments[0], outcome: `AADSTS${error.code}` });
        return sendAadError(res, origin, error);
      }
    }
    sendJson(res, 404, { error: 'not_found', error_description: `The stand-in has no ${req.method} ${url.pathname}` });
  }, tls);
  origin = server.origin;

  const register = (tenantId: string, clientId: string, credential: AppCredential) => {
    tenants.add(tenantId);
    apps.set(`${tenantId}/${clientId}`, credential);
  };
  return {
    authorityHost: `${origin}/`,
    tokenRequests,
    paths,
    addSecretApp: (tenantId, clientId, secret) => register(tenantId, clientId, { kind: 'secret', secret }),
    addCertificateApp: (tenantId, clientId, pem) => register(tenantId, clientId, { kind: 'certificate', certificate: new X509Certificate(pem) }),
    addFederatedApp: (tenantId, clientId, federation) =>
      register(tenantId, clientId, { kind: 'federated', audience: federatedAudience, ...federation }),
    issueAccessToken,
    verifyAccessToken(token) {
      const claims = verifyHs256(token, signingKey);
      return claims && typeof claims.exp === 'number' && claims.exp > nowSeconds() ? claims : undefined;
    },
    close: () => server.close(),
  };
}
