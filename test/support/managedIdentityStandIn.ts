/**
 * A managed identity endpoint in the App Service style, the one msal-node picks when both
 * IDENTITY_ENDPOINT and IDENTITY_HEADER are set (and IDENTITY_SERVER_THUMBPRINT, which would mean
 * Service Fabric, is not):
 *
 *   GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<audience>[&client_id=<user-assigned>]
 *       X-IDENTITY-HEADER: <IDENTITY_HEADER>
 *   -> { access_token, expires_on (unix seconds, as a string), resource, token_type, client_id }
 *
 * Plain HTTP on 127.0.0.1, as the real endpoint is local. Tokens come from the Entra stand-in, so
 * the ARM stand-in accepts them.
 */
import { randomBytes } from 'node:crypto';
import type { EntraStandIn } from './entraStandIn';
import { decodeJwt } from './jwt';
import { sendJson, startServer } from './standInServer';

export interface ManagedIdentityStandInOptions {
  readonly entra: EntraStandIn;
  readonly tenantId: string;
  /** Client id of the system-assigned identity (used when the request names none). */
  readonly systemAssignedClientId: string;
  readonly userAssignedClientIds?: readonly string[];
}

export interface ManagedIdentityRequestRecord {
  readonly resource: string | null;
  readonly clientId: string | null;
  readonly apiVersion: string | null;
  readonly status: number;
}

export interface ManagedIdentityStandIn {
  /** IDENTITY_ENDPOINT and IDENTITY_HEADER for the process that should see a managed identity. */
  readonly env: Readonly<Record<'IDENTITY_ENDPOINT' | 'IDENTITY_HEADER', string>>;
  readonly requests: readonly ManagedIdentityRequestRecord[];
  close(): Promise<void>;
}

export async function startManagedIdentityStandIn(options: ManagedIdentityStandInOptions): Promise<ManagedIdentityStandIn> {
  const header = randomBytes(16).toString('hex');
  const requests: ManagedIdentityRequestRecord[] = [];
  const server = await startServer((req, res, url) => {
    const resource = url.searchParams.get('resource');
    const clientId = url.searchParams.get('client_id');
    const apiVersion = url.searchParams.get('api-version');
    const answer = (status: number, body: object) => {
      requests.push({ resource, clientId, apiVersion, status });
      sendJson(res, status, body);
    };
    if (req.method !== 'GET' || url.pathname !== '/msi/token') return answer(404, { statusCode: 404, message: 'Not found' });
    if (req.headers['x-identity-header'] !== header) return answer(401, { statusCode: 401, message: 'Unauthorized: the X-IDENTITY-HEADER header is missing or wrong.' });
    if (apiVersion !== '2019-08-01') return answer(400, { statusCode: 400, message: `Unsupported api-version ${apiVersion}.` });
    if (!resource) return answer(400, { statusCode: 400, message: 'The resource parameter is required.' });
    if (clientId && !(options.userAssignedClientIds ?? []).includes(clientId)) {
      return answer(400, { statusCode: 400, message: 'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.' });
    }
    const identity = clientId ?? options.systemAssignedClientId;
    const accessToken = options.entra.issueAccessToken(options.tenantId, identity, resource);
    const expiresOn = String(decodeJwt(accessToken)?.payload.exp);
    answer(200, { access_token: accessToken, expires_on: expiresOn, resource, token_type: 'Bearer', client_id: identity });
  });
  return {
    env: { IDENTITY_ENDPOINT: `${server.origin}/msi/token`, IDENTITY_HEADER: header },
    requests,
    close: () => server.close(),
  };
}
