/**
 * A TokenCredential for an Azure Resource Manager service connection, built on @azure/identity,
 * whose failures are RemoteErrors that name the service connection and say what to fix. MSAL's
 * requests to Entra (token, OpenID configuration, managed identity endpoint) go through the
 * network layer: @azure/identity hands MSAL an IdentityClient built with our HttpClient.
 */
import {
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type ClientSecretCredentialOptions,
} from '@azure/identity';
import type { HttpClient } from '@azure/core-rest-pipeline';
import { RemoteError, TaskError } from '../errors';
import { StoppedError } from '../net/errors';
import type { AzureRmConnection } from './connection';
import { AZURE_BODY_LIMITS, type AzureTransport, NO_SDK_RETRIES, isNetworkLayerError, sdkHttpClient } from './transport';

export interface CredentialDeps {
  /** The pipeline's OIDC token for this service connection (workload identity federation only). */
  readonly oidcToken: () => Promise<string>;
  readonly transport: AzureTransport;
}

/**
 * Hosts MSAL knows without asking. Any other authority (Azure Stack, a private cloud, a test
 * server) must skip instance discovery: MSAL would otherwise ask login.microsoftonline.com to
 * vouch for it and reject it as untrusted. MSAL then reads the authority's own
 * /{tenant}/v2.0/.well-known/openid-configuration and checks that its issuer has the same origin.
 */
const knownAuthorityHosts = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login-us.microsoftonline.com',
  'login.microsoftonline.de',
]);

/** Every request @azure/identity and MSAL make goes through `httpClient`; their own retries are off. */
function identityOptions(connection: AzureRmConnection, httpClient: HttpClient): ClientSecretCredentialOptions {
  const host = new URL(connection.authorityHost).host.toLowerCase();
  return { authorityHost: connection.authorityHost, disableInstanceDiscovery: !knownAuthorityHosts.has(host), httpClient, retryOptions: NO_SDK_RETRIES };
}

function identityCredential(connection: AzureRmConnection, getAssertion: () => Promise<string>, httpClient: HttpClient): TokenCredential {
  const { tenantId, clientId } = connection;
  const options = identityOptions(connection, httpClient);
  switch (connection.scheme) {
    case 'ServicePrincipal':
      return connection.certificatePem !== undefined
        ? new ClientCertificateCredential(tenantId, clientId!, { certificate: connection.certificatePem }, options)
        : new ClientSecretCredential(tenantId, clientId!, connection.clientSecret!, options);
    case 'WorkloadIdentityFederation':
      return new ClientAssertionCredential(tenantId, clientId!, getAssertion, options);
    case 'ManagedServiceIdentity':
      return new ManagedIdentityCredential({ ...(clientId ? { clientId } : {}), httpClient, retryOptions: NO_SDK_RETRIES });
  }
}

/**
 * The HttpClient, remembering the last failure of the network layer: MSAL reports it as a bare
 * "network_error", so it is kept aside to be reported as itself.
 */
function watchedHttpClient(transport: AzureTransport): { readonly client: HttpClient; lastFailure(): unknown; reset(): void } {
  const inner = sdkHttpClient(transport, AZURE_BODY_LIMITS.token);
  let failure: unknown;
  return {
    client: {
      sendRequest: (request) =>
        inner.sendRequest(request).catch((error: unknown) => {
          if (isNetworkLayerError(error)) failure = error;
          throw error;
        }),
    },
    lastFailure: () => failure,
    reset: () => (failure = undefined),
  };
}

interface Failure {
  /** The Entra error code (AADSTS...), when the service sent one. */
  code?: string;
  /** One line that is safe to show: the service's description, never a secret. */
  detail: string;
}

function describe(error: unknown, secret: string | undefined): Failure {
  const response = (error as { errorResponse?: { errorDescription?: string } })?.errorResponse;
  const message = error instanceof Error ? error.message : String(error);
  const text = `${response?.errorDescription ?? ''}\n${message}`;
  const code = /AADSTS\d+/.exec(text)?.[0] ?? /Error\(s\): (\d{5,})/.exec(text)?.[1]?.replace(/^/, 'AADSTS');
  // MSAL reformats the service's answer as "Error(s): ... - Description: <text> - Correlation ID: ...".
  const description = /Description:\s*(.*?)(?:\r|\n| - Correlation ID| - Trace ID|$)/.exec(text)?.[1];
  let detail = (description ?? message.split(/\r?\n/)[0]).replace(/^AADSTS\d+:\s*/, '').trim().replace(/\.$/, '').slice(0, 400);
  // Entra never echoes a secret, but a library message might: cut it out rather than trust that.
  if (secret) detail = detail.split(secret).join('***');
  return { code, detail };
}

const secretCodes = new Set(['AADSTS7000215', 'AADSTS7000222', 'AADSTS7000216']);
const assertionCodes = new Set(['AADSTS700027', 'AADSTS700024', 'AADSTS700021', 'AADSTS700023', 'AADSTS50012']);
const federationCodes = new Set(['AADSTS70021', 'AADSTS700211', 'AADSTS700212', 'AADSTS700213', 'AADSTS700024', 'AADSTS700223', 'AADSTS50013']);
const tenantCodes = new Set(['AADSTS90002', 'AADSTS900023', 'AADSTS90023']);

/** Turns whatever @azure/identity or MSAL threw into the one message that helps the most. */
function translate(connection: AzureRmConnection, error: unknown): TaskError {
  const name = connection.name;
  const { code, detail } = describe(error, connection.clientSecret);
  const reason = code ? `${code}: ${detail}` : detail;
  const options = { cause: error };
  if (connection.scheme === 'ManagedServiceIdentity') return new RemoteError('AzureManagedIdentityUnavailable', [name, reason], options);
  if (code && secretCodes.has(code) && connection.clientSecret !== undefined) return new RemoteError('AzureSecretRejected', [name, reason], options);
  if (code && assertionCodes.has(code) && connection.certificatePem !== undefined) {
    return new RemoteError('AzureCertificateRejected', [name, reason], options);
  }
  if (code && federationCodes.has(code) && connection.scheme === 'WorkloadIdentityFederation') {
    return new RemoteError('AzureFederationRejected', [name, reason], options);
  }
  if (code === 'AADSTS700016') return new RemoteError('AzureApplicationNotFound', [connection.tenantId, connection.clientId, name, reason], options);
  if ((code && tenantCodes.has(code)) || /endpoints_resolution_error|openid/i.test(detail)) {
    return new RemoteError('AzureTenantNotFound', [connection.tenantId, name, connection.authorityHost, reason], options);
  }
  return new RemoteError('AzureTokenFailed', [name, reason], options);
}

/** Entra could not be reached (or would not answer usably): the connection, and the network layer's own error. */
function unreachable(connection: AzureRmConnection, failure: unknown): unknown {
  if (failure instanceof StoppedError) return failure;
  return new RemoteError('AzureTokenUnreachable', [connection.name, connection.authorityHost, (failure as Error).message], { cause: failure });
}

/** Seconds since the epoch at which a JWT expires, read without verifying it (Entra verifies it). */
function expiryOf(jwt: string): number | undefined {
  try {
    const exp = (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * msal-node calls the assertion callback twice per acquireTokenByClientCredential, and before it
 * looks in its token cache, so every getToken would cost Azure DevOps two OIDC token requests.
 * The OIDC token is valid for minutes and Entra accepts it more than once (as AKS workload
 * identity reuses its projected token): reuse it until a minute before it expires.
 */
function reusable(request: () => Promise<string>): () => Promise<string> {
  let cached: { token: Promise<string>; until: number } | undefined;
  return () => {
    if (cached && Date.now() < cached.until) return cached.token;
    const entry = { token: request(), until: Infinity };
    cached = entry;
    entry.token.then(
      (token) => (entry.until = ((expiryOf(token) ?? 0) - 60) * 1000),
      () => (entry.until = 0),
    );
    return entry.token;
  };
}

/**
 * A credential for the connection. @azure/identity (MSAL) caches access tokens per scope; for
 * workload identity federation the pipeline's OIDC token is asked for only when it runs out.
 */
export function azureCredential(connection: AzureRmConnection, deps: CredentialDeps): TokenCredential {
  const oidcToken = reusable(deps.oidcToken);
  // MSAL wraps whatever the assertion callback throws; keep ours so its own message survives.
  let assertionError: unknown;
  const getAssertion = async () => {
    try {
      return await oidcToken();
    } catch (error) {
      assertionError = error;
      throw error;
    }
  };
  const http = watchedHttpClient(deps.transport);
  const inner = identityCredential(connection, getAssertion, http.client);
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      assertionError = undefined;
      http.reset();
      try {
        const token = await inner.getToken(scopes, { ...options, abortSignal: options?.abortSignal ?? deps.transport.signal });
        if (!token) throw new Error('no token returned');
        return token;
      } catch (error) {
        if (assertionError instanceof TaskError) throw assertionError;
        if (error instanceof TaskError) throw error;
        // A peer we could not reach or that answered too much: the network layer's error names it.
        throw http.lastFailure() !== undefined ? unreachable(connection, http.lastFailure()) : translate(connection, error);
      }
    },
  };
}
