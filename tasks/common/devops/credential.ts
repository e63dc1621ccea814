/**
 * How requests to Azure DevOps authenticate: the job's System.AccessToken (an OAuth token, sent as
 * Bearer) or the personal access token of an "Azure Repos/Team Foundation Server" service
 * connection (sent as Basic, the only way Azure DevOps takes a PAT). No SDK here: the input layer
 * builds credentials without loading azure-devops-node-api.
 */
import { RemoteError, SettingError, type TaskError, INPUT_SLOT } from '../errors';

export type DevOpsCredential =
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'pat'; readonly token: string; /** The id of the service connection that holds the token. */ readonly connection: string };

/**
 * What a failure of the Azure DevOps calls may ask the user to change (a SettingError's
 * `setting`): the service connection whose token was refused, the pipeline, its artifact, the run.
 */
export type DevOpsSetting = 'devopsConnection' | 'pipeline' | 'artifactName' | 'pipelineRun';

/** A credential whose token is non-enumerable: a dump or copy of it never carries the token. */
export function devOpsCredential(kind: 'bearer', token: string): DevOpsCredential;
export function devOpsCredential(kind: 'pat', token: string, connection: string): DevOpsCredential;
export function devOpsCredential(kind: 'bearer' | 'pat', token: string, connection?: string): DevOpsCredential {
  const credential = kind === 'pat' ? { kind, connection } : { kind };
  Object.defineProperty(credential, 'token', { value: token, enumerable: false });
  return Object.freeze(credential) as DevOpsCredential;
}

/**
 * The Authorization value a PAT travels as (azure-devops-node-api's PAT handler sends the user
 * name 'PAT'). Masked too, so a header echoed by a proxy or a debug trace shows neither form.
 */
export function basicAuthorizationOf(token: string): string {
  return Buffer.from(`PAT:${token}`).toString('base64');
}

/** HTTP 401: which credential Azure DevOps refused, and where to fix it. */
export function unauthorizedError(credential: DevOpsCredential, operation: string, where: string): TaskError {
  if (credential.kind === 'bearer') return new RemoteError('DevOpsUnauthorized', [operation, where]);
  return new SettingError<DevOpsSetting>('devopsConnection', 'DevOpsConnectionUnauthorized', [credential.connection, INPUT_SLOT, operation, where]);
}

/** HTTP 403: the identity behind the credential may not read the pipeline. */
export function forbiddenError(credential: DevOpsCredential, operation: string, pipeline: string, detail: string): TaskError {
  if (credential.kind === 'bearer') return new RemoteError('DevOpsForbidden', [operation, pipeline, detail]);
  return new SettingError<DevOpsSetting>('devopsConnection', 'DevOpsConnectionForbidden', [credential.connection, INPUT_SLOT, operation, pipeline, detail]);
}
