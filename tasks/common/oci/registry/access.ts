/**
 * How to authenticate to the target registry, as plain data read from the Docker Registry service
 * connection, and the step that turns it into a credential. Only an ACR connection needs Azure:
 * its Entra ID token is what ACR exchanges for registry tokens.
 */
import { armScope, type AzureRmConnection } from '../../azure/connection';
import type { TokenCredential } from '@azure/core-auth';
import type { OidcContext } from '../../azure/oidc';
import type { AzureTransport } from '../../azure/transport';
import { RemoteError } from '../../errors';
import type { RegistryCredential } from './auth';

export type RegistryAccess =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'basic'; readonly registry: string; readonly username: string; readonly password: string }
  | { readonly kind: 'azure'; readonly registry: string; readonly connection: AzureRmConnection; readonly devOps: OidcContext };

/** The registry host a service connection is for, when it names one. */
export function registryOf(access: RegistryAccess): string | undefined {
  return access.kind === 'anonymous' ? undefined : access.registry;
}

/** `transport` carries the Entra and Azure DevOps calls of an ACR connection through the network layer. */
export function registryCredential(access: RegistryAccess, transport: AzureTransport): RegistryCredential {
  switch (access.kind) {
    case 'anonymous':
      return { kind: 'anonymous' };
    case 'basic':
      return { kind: 'basic', username: access.username, password: access.password };
    case 'azure': {
      const { connection } = access;
      // @azure/identity and the Azure DevOps client are imported on first use: the build splits them
      // into chunks of their own, which a task that never reaches an ACR connection does not parse.
      let credential: Promise<TokenCredential> | undefined;
      const azureToken = async (scope: string) => {
        credential ??= Promise.all([import('../../azure/credential'), import('../../azure/oidc')]).then(([{ azureCredential }, { requestPipelineOidcToken }]) =>
          azureCredential(connection, { oidcToken: () => requestPipelineOidcToken(access.devOps, transport), transport }));
        return (await credential).getToken(scope);
      };
      // ACR's exchange accepts a token for Azure Resource Manager, the audience every Azure identity can get.
      const scope = armScope(connection);
      return {
        kind: 'entra',
        tenantId: connection.tenantId,
        entraToken: async () => {
          const token = await azureToken(scope);
          if (!token) throw new RemoteError('AzureTokenFailed', [connection.name, 'no token was returned']);
          return token.token;
        },
      };
    }
  }
}
