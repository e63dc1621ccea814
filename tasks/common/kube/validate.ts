/**
 * Checks of the values that go into generated manifests. Each failure is an InputError naming the
 * task input, the value and what is accepted, so the pipeline author can fix it in one go.
 */
import { InputError } from '../errors';
import { parseReference, ReferenceError } from '../oci/reference';

const DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
/** Azure public IP DNS label: starts with a letter, 3 to 63 characters. */
const AZURE_DNS_LABEL = /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/;
/** The env var names the API server accepts (C identifiers plus '-' and '.'). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export const MAX_REPLICAS = 1000;

function invalid(input: string, value: string, accepted: string): InputError {
  return new InputError(input, 'InputInvalid', [input, value, accepted]);
}

/** A DNS-1123 label: what Kubernetes accepts for names of Deployments, Services and namespaces. */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

export function checkDns1123Label(input: string, value: string): void {
  if (!isDns1123Label(value)) {
    throw invalid(input, value, 'use a DNS-1123 label: 1 to 63 lower-case letters, digits or \'-\', starting and ending with a letter or digit (for example \'churn-app\').');
  }
}

export function checkDns1123Subdomain(input: string, value: string): void {
  if (value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
    throw invalid(input, value, 'use a DNS-1123 name: up to 253 lower-case letters, digits, \'-\' or \'.\', starting and ending with a letter or digit.');
  }
}

export function checkAzureDnsLabel(input: string, value: string): void {
  if (!AZURE_DNS_LABEL.test(value)) {
    throw invalid(input, value, 'use 3 to 63 lower-case letters, digits or \'-\', starting with a letter and not ending with \'-\'; the address becomes <label>.<region>.cloudapp.azure.com.');
  }
}

export function checkWholeNumber(input: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value)) throw new InputError(input, 'InputNotInteger', [input, String(value), min, max]);
  if (value < min || value > max) throw new InputError(input, 'InputOutOfRange', [input, value, min, max]);
}

export function checkHttpPath(input: string, value: string): void {
  if (!value.startsWith('/') || /\s/.test(value)) {
    throw invalid(input, value, 'use an HTTP path that starts with \'/\' and has no spaces, for example \'/healthz\'.');
  }
}

export function checkEnvNames(input: string, env: Readonly<Record<string, string>>): void {
  const bad = Object.keys(env).find((name) => !ENV_NAME.test(name));
  if (bad !== undefined) {
    throw invalid(input, bad, 'environment variable names are letters, digits, \'_\', \'-\' or \'.\', not starting with a digit; write one KEY=VALUE per line.');
  }
}

export function checkImage(input: string, value: string): void {
  try {
    parseReference(value);
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    throw invalid(input, value, `${error.message}. Use an image reference such as myacr.azurecr.io/churn-app@sha256:... (ideally $(bake.imageRef)).`);
  }
}
