/**
 * How every Azure SDK client of the tasks sends: through the network layer (azureHttpClient), with
 * the SDK's own retries off and the one retry policy on, and with redirects that keep credentials
 * on their own origin. Built once per store or cluster from the task's network and signal, then
 * handed to Entra (credential.ts), Resource Manager (arm.ts), Blob Storage, Azure ML and AKS.
 */
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { HttpClient } from '@azure/core-rest-pipeline';
import type { Log } from '../log';
import { BODY_LIMITS } from '../net/body';
import { BodyTooLargeError, CredentialScopeError, HttpStatusError, NetworkError, ProxyError, StoppedError } from '../net/errors';
import { azureHttpClient } from '../net/adapters/azureHttpClient';
import type { Network } from '../net/network';
import { MAX_REDIRECTS, redirectHop } from '../net/origin';
import type { RetryPolicy } from '../net/retry';

const MiB = 1024 * 1024;

/**
 * The largest answer each kind of Azure client holds in memory (downloads stream and are not
 * bounded here). A bigger answer fails naming the peer and the limit.
 */
export const AZURE_BODY_LIMITS = Object.freeze({
  /** Entra token answers, OpenID configuration and instance discovery: a few KiB; 1 MiB as for every token body. */
  token: BODY_LIMITS.json,
  /**
   * Resource Manager pages: up to 1000 resources a page, and a storage account or model version
   * is 2-4 KiB of JSON, so a full page reaches about 4 MiB; AKS credentials are one kubeconfig.
   */
  arm: 16 * MiB,
  /**
   * Blob listing XML, asked for in pages of BLOB_PAGE_SIZE: each entry is at most ~3 KiB of
   * escaped name, ~1.5 KiB of properties and 8 KiB of metadata (the service's cap), about 25 MiB a page.
   */
  blobListing: 32 * MiB,
});

/** Entries per blob listing page; see AZURE_BODY_LIMITS.blobListing. */
export const BLOB_PAGE_SIZE = 2000;

/** What an Azure client needs to send: the network layer, the task's signal and the retry policy. */
export interface AzureTransport {
  readonly network: Network;
  readonly retry: RetryPolicy;
  /** The task's cancel and deadline. */
  readonly signal?: AbortSignal;
  readonly log?: Log;
}

/** The SDK's HttpClient for one kind of client, holding at most `maxBodyBytes` of any answer. */
export function sdkHttpClient(transport: AzureTransport, maxBodyBytes: number): HttpClient {
  return azureHttpClient(transport.network, {
    retry: transport.retry,
    signal: transport.signal,
    maxBodyBytes,
    onRetry: (what, attempt, error) => transport.log?.debug(`${what} failed (attempt ${attempt} of ${transport.retry.attempts}): ${(error as Error)?.message ?? error}`),
  });
}

/**
 * Whether an SDK call failed in the network layer itself: such an error names its peer, and the
 * caller passes it on (to its own retry, or to the task runner's explanation) rather than wrap it.
 */
export function isNetworkLayerError(error: unknown): boolean {
  return [NetworkError, HttpStatusError, BodyTooLargeError, ProxyError, CredentialScopeError, StoppedError].some((type) => error instanceof type);
}

/** SDK options that leave retrying to sdkHttpClient: a second policy would multiply the attempts. */
export const NO_SDK_RETRIES = Object.freeze({ maxRetries: 0 });

export const REDIRECT_POLICY_NAME = 'credentialScopedRedirects';

/**
 * Follows redirects as origin.ts allows: an https -> http hop is refused, and a hop to another
 * origin goes without the Authorization header. It replaces core-rest-pipeline's redirect policy
 * and must sit after the Sign phase, so that a hop is not signed again on the way out.
 */
export function credentialScopedRedirects(): PipelinePolicy {
  return {
    name: REDIRECT_POLICY_NAME,
    async sendRequest(request, next) {
      let response = await next(request);
      for (let hop = 0; hop < MAX_REDIRECTS; hop++) {
        const location = response.headers.get('location');
        const follow = location && [301, 302, 303, 307, 308].includes(response.status) && (request.method === 'GET' || request.method === 'HEAD' || response.status >= 307);
        if (!follow) return response;
        const { url, keepCredentials } = redirectHop(new URL(request.url), location);
        response.readableStreamBody?.resume();
        request.url = url.href;
        if (!keepCredentials) request.headers.delete('authorization');
        response = await next(request);
      }
      return response;
    },
  };
}
