/**
 * Child-process script: runs the core's Azure code exactly as a task would (connection ->
 * credential -> token, optionally -> ARM look-up) and prints one JSON line with the outcome.
 *
 * It is a separate process because Node trusts an extra CA (the stand-ins' HTTPS) only through
 * NODE_EXTRA_CA_CERTS at start-up, and because msal-node reads IDENTITY_ENDPOINT from the
 * environment. Run: node --import tsx test/support/azureTokenProbe.ts, with AZURE_PROBE set to
 * a ProbeRequest in JSON. The output never holds a token or secret: only decoded claims.
 */
import { armTargetFor, findStorageAccountBlobEndpoint } from '../../tasks/common/azure/arm';
import { readAzureRmConnection } from '../../tasks/common/azure/connection';
import { azureCredential } from '../../tasks/common/azure/credential';
import { type OidcContext, requestPipelineOidcToken } from '../../tasks/common/azure/oidc';
import type { AzureTransport } from '../../tasks/common/azure/transport';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { Network } from '../../tasks/common/net/network';
import { retryPolicy } from '../../tasks/common/net/retry';
import { registryCredential } from '../../tasks/common/oci/registry/access';
import { agentNetworkSettings } from '../../tasks/common/pipeline/network';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { type EndpointSpec, fakeEndpoint } from './fakeAzureEndpoint';
import { decodeJwt } from './jwt';

export interface ProbeRequest {
  readonly endpoint: EndpointSpec;
  /** The input that names the connection (the probe reads it as a model store's connection). */
  readonly input?: string;
  /** A token for this scope is requested and its claims reported. */
  readonly scope?: string;
  /** Pipeline variables for workload identity federation. */
  readonly oidc?: Omit<OidcContext, 'serviceConnectionId'>;
  readonly oidcRetryDelayMs?: number;
  readonly arm?: { readonly accountName: string; readonly retryDelayInMs?: number };
  /** The Entra token an ACR connection to this registry would exchange is requested and its claims reported. */
  readonly acr?: { readonly registry: string };
}

export type ProbeResult =
  | { ok: true; scheme: string; claims?: Record<string, unknown>; blobEndpoint?: string; acrClaims?: Record<string, unknown> }
  | { ok: false; error: { name: string; key?: string; setting?: string; input?: string; message: string } };

/** The agent's network as a task builds it from this process's environment (the test CA, any HTTPS_PROXY). */
const transport: AzureTransport = {
  network: new Network(agentNetworkSettings({ proxy: null, cert: null, env: process.env }, () => undefined)),
  retry: retryPolicy({ attempts: 4, baseDelayMs: 20 }),
};

async function probe(request: ProbeRequest): Promise<ProbeResult> {
  const connection = readAzureRmConnection(fakeEndpoint(request.endpoint), 'storeConnection', request.endpoint.id);
  const oidcToken = () =>
    requestPipelineOidcToken({ ...(request.oidc ?? emptyOidc), serviceConnectionId: connection.id }, { ...transport, retry: retryPolicy({ attempts: 4, baseDelayMs: request.oidcRetryDelayMs ?? 50 }) });
  const credential = azureCredential(connection, { oidcToken, transport });
  const result: ProbeResult & { ok: true } = { ok: true, scheme: connection.scheme };
  if (request.scope) {
    const token = await credential.getToken(request.scope);
    result.claims = token ? decodeJwt(token.token)?.payload : undefined;
  }
  if (request.arm) {
    const armTransport = { ...transport, retry: retryPolicy({ attempts: 5, baseDelayMs: request.arm.retryDelayInMs ?? 20 }) };
    result.blobEndpoint = await findStorageAccountBlobEndpoint({
      ...armTargetFor(connection, { credential, transport: armTransport }),
      subscriptionId: connection.subscriptionId,
      accountName: request.arm.accountName,
    });
  }
  if (request.acr) {
    // In this process (node --import tsx) the registry credential's dynamic imports resolve, as in the bundle.
    const devOps = { ...(request.oidc ?? emptyOidc), serviceConnectionId: connection.id };
    const acr = registryCredential({ kind: 'azure', registry: request.acr.registry, connection, devOps }, transport);
    if (acr.kind !== 'entra') throw new Error(`an ACR connection gave a ${acr.kind} credential`);
    result.acrClaims = decodeJwt(await acr.entraToken())?.payload;
  }
  return result;
}

const emptyOidc: Omit<OidcContext, 'serviceConnectionId'> = {
  collectionUri: undefined, projectId: undefined, hub: undefined, planId: undefined, jobId: undefined, accessToken: undefined,
};

/** The failure as Fetch reports it: the core's settings named as the inputs that carry them. */
function failure(request: ProbeRequest, cause: unknown): ProbeResult {
  const error = asInputError(cause, { storeConnection: request.input ?? 'azureSubscription', storageAccount: 'storageAccount' });
  const e = error as Error;
  return {
    ok: false,
    error: {
      name: e?.name ?? typeof error,
      key: error instanceof TaskError ? error.key : undefined,
      setting: cause instanceof SettingError ? cause.setting : undefined,
      input: error instanceof InputError ? error.input : undefined,
      message: String(e?.message ?? error),
    },
  };
}

async function main(): Promise<void> {
  const request = JSON.parse(process.env.AZURE_PROBE ?? '{}') as ProbeRequest;
  const result = await probe(request).catch((cause: unknown) => failure(request, cause));
  transport.network.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main();
