/**
 * Reads an Azure Resource Manager service connection the way the Azure Pipelines agent exposes it
 * (ENDPOINT_AUTH_SCHEME_<id>, ENDPOINT_AUTH_PARAMETER_<id>_<KEY>, ENDPOINT_DATA_<id>_<KEY>, with
 * the same parameter names Microsoft's own azure-arm-rest package reads) into one validated,
 * frozen value. Nothing here talks to the network.
 */
import { INPUT_SLOT, SettingError } from '../errors';
import type { MessageKey } from '../messages';
import type { Endpoint } from '../endpoint';

export type AzureRmScheme = 'ServicePrincipal' | 'WorkloadIdentityFederation' | 'ManagedServiceIdentity';

export interface AzureRmConnection {
  readonly id: string;
  /** The connection as the user named it (what they typed: a name or an id), for messages. */
  readonly name: string;
  readonly scheme: AzureRmScheme;
  readonly tenantId: string;
  readonly clientId?: string;
  /**
   * Secrets are non-enumerable: JSON.stringify, util.inspect and object spread skip them, so a
   * connection logged or copied by mistake never carries the secret along. Read them by name.
   */
  readonly clientSecret?: string;
  /** PEM holding the certificate and its unencrypted private key (authenticationType spnCertificate). */
  readonly certificatePem?: string;
  readonly subscriptionId: string;
  /** Resource Manager URL, always ending with '/'. */
  readonly armUrl: string;
  /** Microsoft Entra authority host, always ending with '/'. */
  readonly authorityHost: string;
  readonly environment: string;
  /** The environment's ARM token audience (activeDirectoryServiceEndpointResourceId), when the connection names one. */
  readonly resourceManagerAudience?: string;
}

export const defaultArmUrl = 'https://management.azure.com/';
export const defaultAuthorityHost = 'https://login.microsoftonline.com/';

/**
 * The scope of a Resource Manager token for a connection: the one rule for everything that signs
 * with one (ARM look-ups, ACR's token exchange, Azure ML's MLflow endpoint).
 * 1. The audience the connection's environment declares: Azure Stack Hub's ARM accepts only that
 *    (an app ID URI unrelated to its URL), and any cloud's ARM accepts its own.
 * 2. Else the origin of its Resource Manager URL: ARM's audience in the public and sovereign clouds
 *    (management.chinacloudapi.cn, management.usgovcloudapi.net), which Microsoft's tasks ask for too.
 * 3. The public cloud, through the reader's default URL, when the connection names no URL (an ACR one).
 * Trailing slashes go before '/.default' is added, so 'https://x/' and 'https://x' ask alike.
 */
export function armScope(connection: Pick<AzureRmConnection, 'armUrl' | 'resourceManagerAudience'>): string {
  const declared = connection.resourceManagerAudience?.trim().replace(/\/+$/, '');
  const audience = declared || new URL(connection.armUrl).origin;
  return `${audience}/.default`;
}

const supportedSchemes: readonly AzureRmScheme[] = ['ServicePrincipal', 'WorkloadIdentityFederation', 'ManagedServiceIdentity'];

/** The pieces every error names: the setting the connection is for, and the connection as the user knows it. */
interface Context {
  readonly endpoint: Endpoint;
  readonly setting: string;
  readonly name: string;
}

function fail(context: Context, key: MessageKey, ...rest: unknown[]): never {
  throw new SettingError(context.setting, key, [INPUT_SLOT, context.name, ...rest]);
}

function required(context: Context, value: string | undefined, key: MessageKey): string {
  return value ?? fail(context, key);
}

function schemeOf(context: Context): AzureRmScheme {
  const raw = context.endpoint.scheme?.trim();
  // The agent leaves the scheme empty for old connections; Microsoft's tasks treat that as a service principal.
  if (!raw) return 'ServicePrincipal';
  const match = supportedSchemes.find((scheme) => scheme.toLowerCase() === raw.toLowerCase());
  return match ?? fail(context, 'AzureRmSchemeUnsupported', raw, supportedSchemes.join(', '));
}

/**
 * An https URL normalized to end with '/', or undefined. Both services need TLS: @azure/identity
 * refuses a plain-http authority and core-rest-pipeline refuses to send a bearer token over http.
 */
function baseUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:') return undefined;
    return url.href.endsWith('/') ? url.href : `${url.href}/`;
  } catch {
    return undefined;
  }
}

function urlSetting(context: Context, value: string | undefined, fallback: string, what: string): string {
  if (!value) return fallback;
  return baseUrl(value) ?? fail(context, 'AzureRmUrlInvalid', what, value);
}

type Credentials = Pick<AzureRmConnection, 'clientId' | 'clientSecret' | 'certificatePem'>;

function servicePrincipalCredentials(context: Context): Credentials {
  const { endpoint } = context;
  const clientId = required(context, endpoint.authParameter('serviceprincipalid'), 'AzureRmClientIdMissing');
  const authType = endpoint.authParameter('authenticationType')?.toLowerCase() ?? 'spnkey';
  if (authType === 'spnkey') {
    return { clientId, clientSecret: required(context, endpoint.secretAuthParameter('serviceprincipalkey'), 'AzureRmSecretMissing') };
  }
  if (authType === 'spncertificate') {
    const pem = required(context, endpoint.secretAuthParameter('servicePrincipalCertificate'), 'AzureRmCertificateMissing');
    checkCertificatePem(context, pem);
    return { clientId, certificatePem: pem };
  }
  return fail(context, 'AzureRmAuthTypeUnsupported', authType, 'spnKey, spnCertificate');
}

/** @azure/identity needs the certificate and an unencrypted private key in one PEM. */
function checkCertificatePem(context: Context, pem: string): void {
  const hasCertificate = /-----BEGIN CERTIFICATE-----/.test(pem);
  const hasKey = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/.test(pem);
  if (!hasCertificate || !hasKey) fail(context, 'AzureRmCertificateInvalid');
}

function credentialsOf(context: Context, scheme: AzureRmScheme): Credentials {
  switch (scheme) {
    case 'ServicePrincipal':
      return servicePrincipalCredentials(context);
    case 'WorkloadIdentityFederation':
      return { clientId: required(context, context.endpoint.authParameter('serviceprincipalid'), 'AzureRmClientIdMissing') };
    case 'ManagedServiceIdentity':
      // A user-assigned identity is named by data 'msiclientId'; without it the agent's system identity is used.
      return { clientId: context.endpoint.data('msiclientId') };
  }
}

function freeze(fields: Omit<AzureRmConnection, 'clientSecret' | 'certificatePem'>, credentials: Credentials): AzureRmConnection {
  const connection: Record<string, unknown> = { ...fields };
  if (credentials.clientId !== undefined) connection.clientId = credentials.clientId;
  for (const key of ['clientSecret', 'certificatePem'] as const) {
    if (credentials[key] !== undefined) Object.defineProperty(connection, key, { value: credentials[key], enumerable: false });
  }
  return Object.freeze(connection) as unknown as AzureRmConnection;
}

/**
 * The Azure Resource Manager connection that holds `setting` (a store's, a registry's or a
 * cluster's connection); its failures are SettingErrors of that setting. `endpointIdForMessages`
 * is what the user typed (a name or an id), so messages point at something they recognize.
 */
export function readAzureRmConnection(
  endpoint: Endpoint | undefined,
  setting: string,
  endpointIdForMessages: string,
  // A Docker Registry connection to ACR authenticates like AzureRM but needs no subscription.
  options: { requireSubscription: boolean } = { requireSubscription: true },
): AzureRmConnection {
  if (!endpoint) throw new SettingError(setting, 'EndpointMissing', [INPUT_SLOT, endpointIdForMessages]);
  const context: Context = { endpoint, setting, name: endpointIdForMessages };
  const scheme = schemeOf(context);
  const tenantId = required(context, endpoint.authParameter('tenantid'), 'AzureRmTenantMissing');
  const credentials = credentialsOf(context, scheme);
  const subscriptionId = options.requireSubscription
    ? required(context, endpoint.data('subscriptionId'), 'AzureRmSubscriptionMissing')
    : (endpoint.data('subscriptionId') ?? '');
  // MSAL-era tasks read activeDirectoryAuthority; older ones environmentAuthorityUrl. Both name the same host.
  const authority = endpoint.data('activeDirectoryAuthority') ?? endpoint.data('environmentAuthorityUrl');
  const audience = endpoint.data('activeDirectoryServiceEndpointResourceId');
  return freeze(
    {
      id: endpoint.id,
      name: endpointIdForMessages,
      scheme,
      tenantId,
      subscriptionId,
      armUrl: urlSetting(context, endpoint.url, defaultArmUrl, 'Resource Manager URL'),
      authorityHost: urlSetting(context, authority, defaultAuthorityHost, 'authority URL'),
      environment: endpoint.data('environment') ?? 'AzureCloud',
      ...(audience ? { resourceManagerAudience: audience } : {}),
    },
    credentials,
  );
}
