/**
 * One Kubernetes API call with the failure handling every caller wants: client-node's ApiException
 * made a typed KubeStatusError (its `code` is the HTTP status, its body the server's Status), then
 * the one retry policy (network failures, 5xx, 429 and Retry-After), under the cluster's signal;
 * refusals become messages that carry the server's Status message and, for 401/403, what to fix.
 * Never the client-node error text itself: it embeds response headers and bodies.
 */
import { ApiException } from '@kubernetes/client-node';
import { RemoteError, TaskError } from '../errors';
import type { Log } from '../log';
import { HttpStatusError, NetworkError, StoppedError, retryVerdict } from '../net/errors';
import { type RetryPolicy, parseRetryAfter, retry, retryPolicy } from '../net/retry';
import { withoutQuery } from '../redact';
import type { Cluster } from './cluster';
import { serverHost } from './kubeconfig';

export const KUBE_RETRY: RetryPolicy = retryPolicy({ attempts: 4, baseDelayMs: 250, maxDelayMs: 5_000, maxRetryAfterMs: 10_000 });

export interface CallOptions {
  readonly log: Log;
  /** The namespace the call works in, for the RBAC hint of a 403. */
  readonly namespace?: string;
  /** Fields replacing KUBE_RETRY's (tests make the pauses short). */
  readonly retry?: Partial<RetryPolicy>;
}

/** A refusal or failure of the API server; `status` is the HTTP status when there was an answer. */
export class KubeApiError extends RemoteError {
  status?: number;
}

/** An answer with an error status, with the metav1.Status the server sent: the reason and its message. */
export class KubeStatusError extends HttpStatusError {
  constructor(peer: string, status: number, readonly reason: string | undefined, readonly statusMessage: string | undefined, retryAfterMs?: number) {
    super(peer, status, sanitize(statusMessage ?? ''), retryAfterMs);
    this.name = 'KubeStatusError';
  }
}

interface ApiStatus {
  readonly reason?: string;
  readonly message?: string;
}

/** The metav1.Status in a body as client-node keeps it: parsed, or JSON text. */
function apiStatusOf(body: unknown): ApiStatus {
  if (typeof body === 'object' && body !== null) return body as ApiStatus;
  if (typeof body !== 'string') return {};
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? parsed as ApiStatus : {};
  } catch {
    return { message: body };
  }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

/** The typed error for an answer with `status` whose body (text or parsed) may be a metav1.Status. */
export function kubeStatusError(peer: string, status: number, body: unknown, retryAfter?: string): KubeStatusError {
  const { reason, message } = apiStatusOf(body);
  return new KubeStatusError(peer, status, text(reason), text(message), parseRetryAfter(retryAfter));
}

/** client-node's ApiException as a typed error; anything else as it is. */
export function typedKubeError(error: unknown, server: string): unknown {
  if (!(error instanceof ApiException)) return error;
  const headers = (error.headers ?? {}) as Record<string, string | undefined>;
  return kubeStatusError(serverHost(server), error.code, error.body, headers['retry-after']);
}

/** The HTTP status of a failure, when there was an answer. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof HttpStatusError ? error.status : undefined;
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
  if (error instanceof KubeStatusError) return sanitize(`HTTP ${error.status}${error.reason ? ` ${error.reason}` : ''}${error.statusMessage ? `: ${error.statusMessage}` : ''}`);
  if (error instanceof HttpStatusError) return sanitize(`HTTP ${error.status}${error.detail ? `: ${error.detail}` : ''}`);
  if (error instanceof NetworkError && !error.message.includes(error.code)) return sanitize(`${error.code}: ${error.message}`);
  return sanitize(error instanceof Error ? error.message : String(error));
}

/** The error to throw for a final failure; `action` reads as "apply Deployment 'app' in namespace 'prod'". */
export function refusal(cluster: Cluster, action: string, error: unknown, options: Pick<CallOptions, 'namespace'>, attempts = 1): KubeApiError {
  const status = statusOf(error);
  const server = withoutQuery(cluster.server);
  const { reason, statusMessage } = error instanceof KubeStatusError ? error : { reason: undefined, statusMessage: undefined };
  let result: KubeApiError;
  if (error instanceof StoppedError) {
    result = new KubeApiError('KubeApiStopped', [server, action, error.message], { cause: error });
  } else if (status === 401) {
    result = new KubeApiError('KubeApiUnauthorized', [server, action], { cause: error });
  } else if (status === 403) {
    result = new KubeApiError('KubeApiForbidden', [action, server, sanitize(statusMessage ?? 'forbidden'), options.namespace ?? '(cluster scope)'], { cause: error });
  } else if (status !== undefined && retryVerdict(error) === 'fail') {
    result = new KubeApiError('KubeApiRefused', [server, action, status, reason ?? '', sanitize(statusMessage ?? '(no message)')], { cause: error });
  } else {
    result = new KubeApiError('KubeApiUnavailable', [server, action, attempts, describeFailure(error)], { cause: error });
  }
  result.status = status;
  return result;
}

/**
 * Runs `call` under the cluster's signal, retrying what the retry policy retries; throws a
 * KubeApiError naming `action` otherwise. A deadline that ends the wait is reported with the server
 * and the action; the agent's cancel goes through as it is.
 */
export async function kubeCall<T>(cluster: Cluster, action: string, call: () => Promise<T>, options: CallOptions): Promise<T> {
  const policy = retryPolicy({ ...KUBE_RETRY, ...options.retry });
  let attempts = 0;
  try {
    return await retry(() => {
      attempts += 1;
      return call().catch((error: unknown) => Promise.reject(typedKubeError(error, cluster.server)));
    }, policy, {
      signal: cluster.signal,
      onRetry: ({ attempt, error, delayMs }) => options.log.warn('KubeApiRetry', action, describeFailure(error), delayMs, attempt + 1, policy.attempts),
    });
  } catch (error) {
    if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
    if (error instanceof TaskError) throw error;
    throw refusal(cluster, action, error, options, attempts);
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
