/**
 * One Kubernetes API call with the failure handling every caller wants: transient failures
 * (dropped connections, 5xx, 429) retried with backoff, refusals turned into messages that carry the
 * server's Status message and, for 401/403, what to fix. Never the client-node error text itself:
 * it embeds response headers and bodies.
 */
import { isTransient, RemoteError } from '../errors';
import type { Log } from '../log';
import { withoutQuery } from '../redact';
import type { Cluster } from './cluster';

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ attempts: 4, baseDelayMs: 250 });

export interface CallOptions {
  readonly log: Log;
  /** The namespace the call works in, for the RBAC hint of a 403. */
  readonly namespace?: string;
  readonly retry?: RetryPolicy;
}

/** A refusal or failure of the API server; `status` is the HTTP status when there was an answer. */
export class KubeApiError extends RemoteError {
  status?: number;
}

/** The HTTP status of a client-node error (Watch sets `statusCode`, the generated APIs `code`); undefined for others. */
export function statusOf(error: unknown): number | undefined {
  const { statusCode, code } = (error ?? {}) as { statusCode?: unknown; code?: unknown };
  const status = typeof statusCode === 'number' ? statusCode : code;
  return typeof status === 'number' && status >= 100 && status < 600 ? status : undefined;
}

interface ApiStatus {
  readonly reason?: string;
  readonly message?: string;
}

/** The metav1.Status the server answered with; client-node keeps it as JSON text in `body`. */
function apiStatus(error: unknown): ApiStatus {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'object' && body !== null) return body as ApiStatus;
  if (typeof body !== 'string') return {};
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? parsed as ApiStatus : {};
  } catch {
    return { message: body };
  }
}

/** Credentials could only reach text through a header echoed back: cut any, and URL queries. */
export function sanitize(text: string): string {
  const clean = withoutQuery(text)
    .replace(/\b(Bearer|Basic)\s+[\w.~+/=-]+/gi, '$1 ***')
    .replace(/("?(?:token|password|client-key-data)"?\s*[:=]\s*)"?[^\s",}]+"?/gi, '$1***');
  return clean.length > 600 ? `${clean.slice(0, 600)}...` : clean;
}

/** One line for a log or message: "HTTP 503 ServiceUnavailable: ..." or "ECONNRESET: ...". */
export function describeFailure(error: unknown): string {
  const status = statusOf(error);
  if (status !== undefined) {
    const { reason, message } = apiStatus(error);
    return sanitize(`HTTP ${status}${reason ? ` ${reason}` : ''}${message ? `: ${message}` : ''}`);
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return sanitize(typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message);
}

/** isTransient reads `statusCode`; client-node's ApiException carries the status in `code`. */
export function isTransientKube(error: unknown): boolean {
  const status = statusOf(error);
  if (status !== undefined) return status === 408 || status === 429 || status >= 500;
  return isTransient(error);
}

/** The error to throw for a final failure; `action` reads as "apply Deployment 'app' in namespace 'prod'". */
export function refusal(cluster: Cluster, action: string, error: unknown, options: CallOptions, attempts = 1): KubeApiError {
  const status = statusOf(error);
  const server = withoutQuery(cluster.server);
  let result: KubeApiError;
  if (status === 401) {
    result = new KubeApiError('KubeApiUnauthorized', [server, action], { cause: error });
  } else if (status === 403) {
    result = new KubeApiError('KubeApiForbidden', [action, server, sanitize(apiStatus(error).message ?? 'forbidden'), options.namespace ?? '(cluster scope)'], { cause: error });
  } else if (status !== undefined && !isTransientKube(error)) {
    const { reason, message } = apiStatus(error);
    result = new KubeApiError('KubeApiRefused', [server, action, status, reason ?? '', sanitize(message ?? '(no message)')], { cause: error });
  } else {
    result = new KubeApiError('KubeApiUnavailable', [server, action, attempts, describeFailure(error)], { cause: error });
  }
  result.status = status;
  return result;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `call`, retrying transient failures; throws a KubeApiError naming `action` otherwise. */
export async function kubeCall<T>(cluster: Cluster, action: string, call: () => Promise<T>, options: CallOptions): Promise<T> {
  const { attempts, baseDelayMs } = options.retry ?? DEFAULT_RETRY;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!isTransientKube(error) || attempt >= attempts) throw refusal(cluster, action, error, options, attempt);
      const delay = baseDelayMs * 2 ** (attempt - 1);
      options.log.warn('KubeApiRetry', action, describeFailure(error), delay, attempt + 1, attempts);
      await sleep(delay);
    }
  }
}

/** As kubeCall, but a 404 answers undefined: for reads of objects that may not exist yet. */
export async function kubeRead<T>(cluster: Cluster, action: string, call: () => Promise<T>, options: CallOptions): Promise<T | undefined> {
  try {
    return await kubeCall(cluster, action, call, options);
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}
