/**
 * All Azure stand-ins wired together, with one service connection per scheme, the environment a
 * child process needs to reach them, and a runner for the token probe. Tests and the e2e suite
 * start one of these, use it, and close it.
 */
import * as path from 'node:path';
import type { OidcContext } from '../../tasks/common/azure/oidc';
import { type ArmStandIn, type StorageAccountSpec, startArmStandIn } from './armStandIn';
import type { ProbeRequest, ProbeResult } from './azureTokenProbe';
import { type DevOpsStandIn, startDevOpsStandIn } from './devopsStandIn';
import { type EntraStandIn, startEntraStandIn } from './entraStandIn';
import type { EndpointSpec } from './fakeAzureEndpoint';
import { type ManagedIdentityStandIn, startManagedIdentityStandIn } from './managedIdentityStandIn';
import { type ClientCertificate, type TestCa, createClientCertificate, createTestCa } from './tls';
import { runProbeProcess } from './probeProcess';

export const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const subscriptionId = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
/** A subscription whose storage accounts no service connection here may read (403). */
export const forbiddenSubscriptionId = '5c8f4c1e-7f0e-4e0e-9a57-3f1c1a0f0e01';
export const clientIds = {
  secret: '11111111-1111-4111-8111-111111111111',
  certificate: '22222222-2222-4222-8222-222222222222',
  federated: '33333333-3333-4333-8333-333333333333',
  systemIdentity: '44444444-4444-4444-8444-444444444444',
  userIdentity: '55555555-5555-4555-8555-555555555555',
} as const;
export const connectionIds = {
  secret: 'a1a1a1a1-0000-4000-8000-000000000001',
  certificate: 'a1a1a1a1-0000-4000-8000-000000000002',
  federated: 'a1a1a1a1-0000-4000-8000-000000000003',
  managedIdentity: 'a1a1a1a1-0000-4000-8000-000000000004',
  /** Known to Azure DevOps, but no federated credential in Entra names its subject. */
  federatedUnregistered: 'a1a1a1a1-0000-4000-8000-000000000005',
} as const;
export const defaultAccounts: readonly StorageAccountSpec[] = [
  { name: 'alphastore' }, { name: 'betastore' }, { name: 'ModelStore' }, { name: 'zetastore' }, { name: 'omegastore' },
];

export interface AzureStandIns {
  readonly ca: TestCa;
  readonly entra: EntraStandIn;
  readonly devops: DevOpsStandIn;
  readonly arm: ArmStandIn;
  readonly managedIdentity: ManagedIdentityStandIn;
  /** The client secret of the 'secret' connection (tests check it never reaches output). */
  readonly clientSecret: string;
  readonly certificate: ClientCertificate;
  readonly systemAccessToken: string;
  /** One AzureRM service connection per scheme, pointing at the stand-ins. */
  readonly connections: Readonly<Record<'secret' | 'certificate' | 'federated' | 'managedIdentity', EndpointSpec>>;
  /** For any child process: trust the test CA, see the managed identity. */
  readonly processEnv: Readonly<Record<string, string>>;
  /** System.* variables (as the agent sets them) for workload identity federation. */
  readonly pipelineEnv: Readonly<Record<string, string>>;
  readonly oidc: Omit<OidcContext, 'serviceConnectionId'>;
  close(): Promise<void>;
}

export interface AzureStandInOptions {
  /** Storage accounts of `subscriptionId`; e.g. one whose blobEndpoint is an Azurite URL. */
  readonly accounts?: readonly StorageAccountSpec[];
  readonly pageSize?: number;
}

function connectionSpecs(s: { entra: EntraStandIn; arm: ArmStandIn; clientSecret: string; certificate: ClientCertificate }): AzureStandIns['connections'] {
  const data = { subscriptionId, subscriptionName: 'Models', environment: 'AzureCloud', scopeLevel: 'Subscription', environmentAuthorityUrl: s.entra.authorityHost };
  const base = { url: s.arm.url, data };
  return {
    secret: { ...base, id: connectionIds.secret, scheme: 'ServicePrincipal', auth: { tenantid: tenantId, serviceprincipalid: clientIds.secret, authenticationType: 'spnKey', serviceprincipalkey: s.clientSecret } },
    certificate: { ...base, id: connectionIds.certificate, scheme: 'ServicePrincipal', auth: { tenantid: tenantId, serviceprincipalid: clientIds.certificate, authenticationType: 'spnCertificate', servicePrincipalCertificate: s.certificate.pem } },
    federated: { ...base, id: connectionIds.federated, scheme: 'WorkloadIdentityFederation', auth: { tenantid: tenantId, serviceprincipalid: clientIds.federated } },
    managedIdentity: { ...base, id: connectionIds.managedIdentity, scheme: 'ManagedServiceIdentity', auth: { tenantid: tenantId } },
  };
}

export async function startAzureStandIns(dir: string, options: AzureStandInOptions = {}): Promise<AzureStandIns> {
  const ca = createTestCa(path.join(dir, 'ca'));
  const certificate = createClientCertificate(path.join(dir, 'sp'), 'sp-certificate');
  const clientSecret = `Xq8~${Math.random().toString(36).slice(2)}Secret.${Date.now().toString(36)}`;
  const systemAccessToken = `eyJ0eXAiOiJKV1QiLCJhbGciOi.${Math.random().toString(36).slice(2)}`;
  const started: { close(): Promise<void> }[] = [];
  try {
    const entra = await startEntraStandIn(ca);
    started.push(entra);
    const devops = await startDevOpsStandIn({ accessToken: systemAccessToken, serviceConnections: { [connectionIds.federated]: 'models-wif', [connectionIds.federatedUnregistered]: 'models-wif-2' } });
    started.push(devops);
    const arm = await startArmStandIn({
      tls: ca, verifyToken: entra.verifyAccessToken, pageSize: options.pageSize,
      subscriptions: { [subscriptionId]: { accounts: options.accounts ?? defaultAccounts }, [forbiddenSubscriptionId]: { accounts: defaultAccounts, readers: ['someone-else'] } },
    });
    started.push(arm);
    const managedIdentity = await startManagedIdentityStandIn({ entra, tenantId, systemAssignedClientId: clientIds.systemIdentity, userAssignedClientIds: [clientIds.userIdentity] });
    started.push(managedIdentity);
    entra.addSecretApp(tenantId, clientIds.secret, clientSecret);
    entra.addCertificateApp(tenantId, clientIds.certificate, certificate.certificatePem);
    entra.addFederatedApp(tenantId, clientIds.federated, { issuer: devops.issuer, subject: devops.subjectFor(connectionIds.federated), publicKey: devops.publicKey });
    const oidc = { collectionUri: devops.collectionUri, projectId: 'c0ffee00-0000-4000-8000-00000000c0de', hub: 'build', planId: 'b0b0b0b0-0000-4000-8000-000000000001', jobId: 'b0b0b0b0-0000-4000-8000-000000000002', accessToken: systemAccessToken };
    return {
      ca, entra, devops, arm, managedIdentity, clientSecret, certificate, systemAccessToken, oidc,
      connections: connectionSpecs({ entra, arm, clientSecret, certificate }),
      processEnv: { NODE_EXTRA_CA_CERTS: ca.caCert, ...managedIdentity.env },
      pipelineEnv: {
        SYSTEM_COLLECTIONURI: oidc.collectionUri, SYSTEM_TEAMFOUNDATIONCOLLECTIONURI: oidc.collectionUri, SYSTEM_TEAMPROJECTID: oidc.projectId,
        SYSTEM_HOSTTYPE: oidc.hub, SYSTEM_PLANID: oidc.planId, SYSTEM_JOBID: oidc.jobId, SYSTEM_ACCESSTOKEN: systemAccessToken,
        ENDPOINT_URL_SYSTEMVSSCONNECTION: oidc.collectionUri,
        ENDPOINT_AUTH_SYSTEMVSSCONNECTION: JSON.stringify({ scheme: 'OAuth', parameters: { AccessToken: systemAccessToken } }),
      },
      close: () => closeAll(started),
    };
  } catch (error) {
    await closeAll(started);
    throw error;
  }
}

async function closeAll(servers: { close(): Promise<void> }[]): Promise<void> {
  await Promise.all(servers.map((server) => server.close()));
}

export interface ProbeRun {
  readonly result: ProbeResult;
  /** Everything the child wrote, to scan for secrets. */
  readonly output: string;
}

/** Runs test/support/azureTokenProbe.ts in a child Node with the stand-ins' environment. */
export async function runAzureProbe(standIns: AzureStandIns, request: ProbeRequest, extraEnv: Record<string, string> = {}): Promise<ProbeRun> {
  const script = path.join(__dirname, 'azureTokenProbe.ts');
  const { result, stdout, stderr } = await runProbeProcess<ProbeResult>(script, { ...standIns.processEnv, ...extraEnv, AZURE_PROBE: JSON.stringify(request) });
  return { result, output: stdout + stderr };
}
