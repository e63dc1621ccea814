/**
 * Azure DevOps REST clients (azure-devops-node-api) as this code builds them: on one collection
 * URL, authenticated as the credential says, sending through the network layer with no retries or
 * redirects of their own, and their failures read as the one retry policy reads errors.
 */
import type { ClientApiBase } from 'azure-devops-node-api/ClientApiBases';
import type { IRequestHandler } from 'azure-devops-node-api/interfaces/common/VsoBaseInterfaces';
import { getBearerHandler, getPersonalAccessTokenHandler } from 'azure-devops-node-api/WebApi';
import { HttpStatusError, type RetryVerdict, isRetryableStatus } from '../net/errors';
import { throughNetwork } from '../net/adapters/devopsHttp';
import type { Network } from '../net/network';
import { basicAuthorizationOf, type DevOpsCredential } from './credential';

/**
 * The largest JSON answer held: Definitions - List by name (a few matches of ~1 KiB), Builds -
 * List of RUNS_CHECKED runs (~10 KiB each), one artifact, one OIDC token. 4 MiB leaves room for a
 * collection with long definitions while a hostile answer cannot take the agent's memory.
 */
export const DEVOPS_BODY_LIMIT = 4 * 1024 * 1024;

/** Bearer for the job's access token, Basic for a service connection's PAT. */
export function requestHandler(credential: DevOpsCredential): IRequestHandler {
  return credential.kind === 'pat' ? getPersonalAccessTokenHandler(credential.token) : getBearerHandler(credential.token);
}

/** The Authorization header the handler would send, for a request made directly through the network layer. */
export function authorizationOf(credential: DevOpsCredential): string {
  return credential.kind === 'pat' ? `Basic ${basicAuthorizationOf(credential.token)}` : `Bearer ${credential.token}`;
}

/** The client, sending through the network layer with the task's signal. */
export function devOpsApi<T extends ClientApiBase>(api: T, network: Network, signal?: AbortSignal): T {
  return throughNetwork(api, network, { signal, maxBodyBytes: DEVOPS_BODY_LIMIT });
}

/** typed-rest-client rejects an error status with an Error carrying `statusCode`. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The retry verdict on a REST client's status error; other errors are left to the policy. */
export function devOpsVerdict(error: unknown): RetryVerdict | undefined {
  if (error instanceof HttpStatusError) return undefined;
  const status = statusOf(error);
  if (status === undefined) return undefined;
  return isRetryableStatus(status) ? 'retry' : 'fail';
}
