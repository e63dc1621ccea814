/**
 * Checks of the values that go into generated manifests. Pure: each says what is wrong with a value
 * and what is accepted, or nothing. pipeline/ reports a problem as the input that holds the value;
 * the core, for callers that skipped the checks, as a failure of the setting (settingFailure).
 */
import { INPUT_SLOT, SettingError } from '../errors';
import { parseReference, ReferenceError } from '../oci/reference';

const DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
/** Azure public IP DNS label: starts with a letter, 3 to 63 characters. */
const AZURE_DNS_LABEL = /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/;
/** The env var names the API server accepts (C identifiers plus '-' and '.'). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export const MAX_REPLICAS = 1000;

/** What is wrong with a value, as a message: its key, and the arguments after the name of what holds it. */
export interface ValueProblem {
  readonly key: 'InputInvalid' | 'InputNotInteger' | 'InputOutOfRange' | 'InputNotInList';
  readonly args: readonly unknown[];
}

/** A value problem, and the setting that holds the value. */
export interface SettingProblem<S extends string = string> extends ValueProblem {
  readonly setting: S;
}

function invalid(value: string, accepted: string): ValueProblem {
  return { key: 'InputInvalid', args: [value, accepted] };
}

/** The core's own report of a problem its caller did not check for: a failure of the setting. */
export function settingFailure<S extends string>(problem: SettingProblem<S>): SettingError<S> {
  return new SettingError(problem.setting, problem.key, [INPUT_SLOT, ...problem.args]);
}

/** A DNS-1123 label: what Kubernetes accepts for names of Deployments, Services and namespaces. */
function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

export function dns1123LabelProblem(value: string): ValueProblem | undefined {
  if (isDns1123Label(value)) return undefined;
  return invalid(value, 'use a DNS-1123 label: 1 to 63 lower-case letters, digits or \'-\', starting and ending with a letter or digit (for example \'churn-app\').');
}

export function dns1123SubdomainProblem(value: string): ValueProblem | undefined {
  if (value.length <= 253 && DNS1123_SUBDOMAIN.test(value)) return undefined;
  return invalid(value, 'use a DNS-1123 name: up to 253 lower-case letters, digits, \'-\' or \'.\', starting and ending with a letter or digit.');
}

export function azureDnsLabelProblem(value: string): ValueProblem | undefined {
  if (AZURE_DNS_LABEL.test(value)) return undefined;
  return invalid(value, 'use 3 to 63 lower-case letters, digits or \'-\', starting with a letter and not ending with \'-\'; the address becomes <label>.<region>.cloudapp.azure.com.');
}

export function wholeNumberProblem(value: number, min: number, max: number): ValueProblem | undefined {
  if (!Number.isInteger(value)) return { key: 'InputNotInteger', args: [String(value), min, max] };
  if (value < min || value > max) return { key: 'InputOutOfRange', args: [value, min, max] };
  return undefined;
}

export function httpPathProblem(value: string): ValueProblem | undefined {
  if (value.startsWith('/') && !/\s/.test(value)) return undefined;
  return invalid(value, 'use an HTTP path that starts with \'/\' and has no spaces, for example \'/healthz\'.');
}

export function envNamesProblem(env: Readonly<Record<string, string>>): ValueProblem | undefined {
  const bad = Object.keys(env).find((name) => !ENV_NAME.test(name));
  if (bad === undefined) return undefined;
  return invalid(bad, 'environment variable names are letters, digits, \'_\', \'-\' or \'.\', not starting with a digit; write one KEY=VALUE per line.');
}

export function imageProblem(value: string): ValueProblem | undefined {
  try {
    parseReference(value);
    return undefined;
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    return invalid(value, `${error.message}. Use an image reference such as myacr.azurecr.io/churn-app@sha256:... (ideally $(bake.imageRef)).`);
  }
}
