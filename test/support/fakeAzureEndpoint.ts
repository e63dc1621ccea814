/**
 * A service connection described once as plain data, usable two ways: as the `Endpoint` the core
 * reads (unit tests, the token probe), and as the ENDPOINT_* environment variables the agent gives
 * a task process (e2e tests), named exactly as azure-pipelines-task-lib looks them up.
 */
import type { Endpoint } from '../../tasks/common/pipeline/agent';

export interface EndpointSpec {
  readonly id: string;
  readonly url?: string;
  readonly scheme?: string;
  /** Authorization parameters, e.g. tenantid, serviceprincipalid, serviceprincipalkey. */
  readonly auth?: Readonly<Record<string, string>>;
  /** Data parameters, e.g. subscriptionId, environmentAuthorityUrl. */
  readonly data?: Readonly<Record<string, string>>;
}

/** task-lib upper-cases parameter keys to build the variable name, so keys match in any case. */
function lookup(values: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  const entry = Object.entries(values ?? {}).find(([name]) => name.toUpperCase() === key.toUpperCase());
  const value = entry?.[1]?.trim();
  return value ? value : undefined;
}

export function fakeEndpoint(spec: EndpointSpec): Endpoint & { readonly authReads: readonly string[]; readonly secretReads: readonly string[] } {
  const authReads: string[] = [];
  const secretReads: string[] = [];
  return {
    id: spec.id,
    url: spec.url,
    scheme: spec.scheme,
    authReads,
    secretReads,
    authParameter(key) {
      authReads.push(key);
      return lookup(spec.auth, key);
    },
    secretAuthParameter(key) {
      secretReads.push(key);
      return lookup(spec.auth, key);
    },
    data: (key) => lookup(spec.data, key),
  };
}

/** ENDPOINT_URL_, ENDPOINT_AUTH_ (JSON), ENDPOINT_AUTH_SCHEME_, ENDPOINT_AUTH_PARAMETER_ and ENDPOINT_DATA_ variables. */
export function endpointEnv(spec: EndpointSpec): Record<string, string> {
  const env: Record<string, string> = {};
  const id = spec.id;
  if (spec.url) env[`ENDPOINT_URL_${id}`] = spec.url;
  env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ scheme: spec.scheme ?? 'ServicePrincipal', parameters: spec.auth ?? {} });
  if (spec.scheme) env[`ENDPOINT_AUTH_SCHEME_${id}`] = spec.scheme;
  for (const [key, value] of Object.entries(spec.auth ?? {})) env[`ENDPOINT_AUTH_PARAMETER_${id}_${key.toUpperCase()}`] = value;
  for (const [key, value] of Object.entries(spec.data ?? {})) env[`ENDPOINT_DATA_${id}_${key.toUpperCase()}`] = value;
  return env;
}
