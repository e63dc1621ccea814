/**
 * How the MLflow client proves itself: a fixed bearer token (Databricks, an auth proxy), or Entra
 * tokens of an AzureRM service connection for an Azure ML workspace's MLflow endpoint. An Entra
 * token the server refuses (expired, revoked) is renewed once per request, bypassing the token
 * cache; every token is registered as a secret before it is sent.
 */
import type { TokenCredential } from '@azure/core-auth';

export interface MlflowAuth {
  /** The Authorization header value, if any. */
  header(): Promise<string | undefined>;
  /** After a 401: gets a fresh credential and says whether a retry could succeed. */
  renew(challenge: string | undefined): Promise<boolean>;
}

export function bearerAuth(token: string | undefined): MlflowAuth {
  return { header: async () => (token ? `Bearer ${token}` : undefined), renew: async () => false };
}

export interface EntraAuthOptions {
  readonly credential: TokenCredential;
  /** e.g. https://management.azure.com/.default: Azure ML's MLflow endpoint takes Resource Manager tokens. */
  readonly scope: string;
  readonly registerSecret: (value: string) => void;
  readonly signal: AbortSignal;
}

export function entraAuth(options: EntraAuthOptions): MlflowAuth {
  let last: string | undefined;
  const token = async (claims?: string) => {
    const access = await options.credential.getToken(options.scope, { abortSignal: options.signal, ...(claims ? { claims } : {}) });
    if (!access) throw new Error('no token returned');
    options.registerSecret(access.token);
    return access.token;
  };
  return {
    async header() {
      // MSAL keeps the token until shortly before it expires; asking each time renews it in long downloads.
      last = await token();
      return `Bearer ${last}`;
    },
    async renew(challenge) {
      const refused = last;
      last = await token(claimsOf(challenge) ?? notBeforeNow());
      return last !== refused;
    },
  };
}

/** The claims a continuous-access-evaluation challenge asks for (WWW-Authenticate: Bearer ... claims="<base64 JSON>"). */
function claimsOf(challenge: string | undefined): string | undefined {
  const encoded = /\bclaims="([^"]+)"/.exec(challenge ?? '')?.[1];
  if (!encoded) return undefined;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  try {
    JSON.parse(text);
    return text;
  } catch {
    return undefined;
  }
}

/** A claims request for a token issued from now on: MSAL then skips its cache, and Entra issues a new token. */
function notBeforeNow(): string {
  return JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(Date.now() / 1000)) } } });
}
