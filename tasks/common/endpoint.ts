/**
 * A service connection as the agent exposes it to a task (ENDPOINT_URL_<id>, ENDPOINT_AUTH_*,
 * ENDPOINT_DATA_*). The core reads connections through this interface; pipeline/agent.ts
 * implements it with task-lib, and tests with plain values.
 */
export interface Endpoint {
  readonly id: string;
  readonly url: string | undefined;
  readonly scheme: string | undefined;
  /** An authorization parameter that is not a credential (tenant id, client id, auth type), read without echo. */
  authParameter(key: string): string | undefined;
  /** A credential (key, certificate, token): read without echo and registered as a secret before anything can print it. */
  secretAuthParameter(key: string): string | undefined;
  data(key: string): string | undefined;
}
