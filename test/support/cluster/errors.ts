/** API errors as metav1.Status bodies: kubectl and client-node print `message` and branch on `reason`. */
import type { ResourceType } from './resources';
import { qualifiedName } from './resources';

export interface StatusCause { reason: string; message: string; field?: string }

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: this.message, reason: this.reason, ...(this.details ? { details: this.details } : {}), code: this.code,
    };
  }
}

function describe(resource: ResourceType, name: string): Record<string, unknown> {
  return { name, group: resource.group, kind: resource.plural };
}

export const errors = {
  notFound: (resource: ResourceType, name: string) =>
    new ApiError(404, 'NotFound', `${qualifiedName(resource)} "${name}" not found`, describe(resource, name)),
  namespaceNotFound: (name: string) =>
    new ApiError(404, 'NotFound', `namespaces "${name}" not found`, { name, kind: 'namespaces' }),
  alreadyExists: (resource: ResourceType, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualifiedName(resource)} "${name}" already exists`, describe(resource, name)),
  conflict: (resource: ResourceType, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
    new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedName(resource)} "${name}": ${why}`, describe(resource, name)),
  applyConflict: (message: string, causes: StatusCause[]) =>
    new ApiError(409, 'Conflict', message, { causes }),
  invalid: (resource: ResourceType, name: string, causes: StatusCause[]) =>
    new ApiError(422, 'Invalid',
      `${resource.kind}${resource.group ? `.${resource.group}` : ''} "${name}" is invalid: ${causes.map((c) => `${c.field ?? ''}: ${c.message}`).join(', ')}`,
      { ...describe(resource, name), kind: resource.kind, causes }),
  badRequest: (message: string) => new ApiError(400, 'BadRequest', message),
  methodNotAllowed: (message = 'the server does not allow this method on the requested resource') =>
    new ApiError(405, 'MethodNotAllowed', message),
  unsupportedMediaType: (contentType: string) =>
    new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`),
  notAcceptable: (accept: string) =>
    new ApiError(406, 'NotAcceptable', `only the following media types are accepted: application/json (asked for ${accept})`),
  unauthorized: () => new ApiError(401, 'Unauthorized', 'Unauthorized'),
  gone: (message: string) => new ApiError(410, 'Expired', message),
  pathNotFound: (path: string) => new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`),
};
