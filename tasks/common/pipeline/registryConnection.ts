/**
 * Reads a Docker Registry service connection (connectedService:dockerregistry) the way Microsoft's
 * Docker tasks do: registrytype 'ACR' means an Azure identity (service principal, workload
 * identity federation or managed identity) for the login server; anything else is a user name and
 * password for the registry URL.
 */
import { readAzureRmConnection } from '../azure/connection';
import { InputError } from './inputError';
import type { RegistryAccess } from '../oci/registry/access';
import type { Agent, Endpoint } from './agent';
import { devOpsContextOf } from './devops';
import { readingInputs } from './settings';

const AZURE_SCHEMES = ['serviceprincipal', 'workloadidentityfederation', 'managedserviceidentity'];

/** "https://index.docker.io/v1/" -> "registry-1.docker.io"; "myacr.azurecr.io" -> itself. */
export function registryHost(value: string): string {
  const host = /^[a-z]+:\/\//i.test(value) ? new URL(value).host : value.split('/')[0];
  const lower = host.toLowerCase();
  return lower === 'index.docker.io' || lower === 'docker.io' ? 'registry-1.docker.io' : lower;
}

function isAzure(endpoint: Endpoint): boolean {
  if (endpoint.data('registrytype')?.toLowerCase() === 'acr') return true;
  return AZURE_SCHEMES.includes(endpoint.scheme?.toLowerCase() ?? '');
}

function requiredParameter(input: string, id: string, value: string | undefined, name: string): string {
  if (value === undefined) throw new InputError(input, 'EndpointParameterMissing', [id, name]);
  return value;
}

export function readRegistryConnection(agent: Agent, input: string): RegistryAccess {
  const id = agent.input(input);
  if (id === undefined) return { kind: 'anonymous' };
  const endpoint = agent.endpoint(id);
  if (!endpoint) throw new InputError(input, 'EndpointMissing', [input, id]);
  if (isAzure(endpoint)) {
    const loginServer = requiredParameter(input, id, endpoint.authParameter('loginServer') ?? endpoint.url, 'loginServer');
    // The connection's URL is the registry, not Resource Manager: keep it out of the Azure settings.
    const connection = readingInputs({ registryConnection: input }, () => readAzureRmConnection({ ...endpoint, url: undefined }, 'registryConnection', id, { requireSubscription: false }));
    return { kind: 'azure', registry: registryHost(loginServer), connection, devOps: devOpsContextOf(agent, endpoint.id) };
  }
  const registryUrl = requiredParameter(input, id, endpoint.authParameter('registry') ?? endpoint.url, 'registry');
  return {
    kind: 'basic',
    registry: registryHost(registryUrl),
    username: requiredParameter(input, id, endpoint.authParameter('username'), 'username'),
    password: requiredParameter(input, id, endpoint.secretAuthParameter('password'), 'password'),
  };
}
