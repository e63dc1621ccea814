import type { Readable } from 'node:stream';
import type { TokenCredential } from '@azure/core-auth';
import { createHttpHeaders, createPipelineRequest, type HttpClient } from '@azure/core-rest-pipeline';
import { toHttpHeadersLike } from '@azure/core-http-compat';
import { AnonymousCredential, BlobServiceClient, ContainerClient, type IHttpClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { AZURE_BODY_LIMITS, type AzureTransport, BLOB_PAGE_SIZE, isNetworkLayerError, sdkHttpClient } from '../azure/transport';
import { RemoteError, SettingError, TaskError, INPUT_SLOT } from '../errors';
import type { MessageKey } from '../messages';
import { NetworkError } from '../net/errors';
import type { ModelSetting } from './settings';
import type { ModelStore, StoredObject } from './store';
import { withoutQuery } from '../redact';

/** How to reach a container: with a connection string, a SAS URL, or an Entra ID token. */
export type BlobAccess =
  | { readonly kind: 'connectionString'; readonly connectionString: string; readonly container: string }
  | { readonly kind: 'sasUrl'; readonly sasUrl: string; readonly container?: string }
  | { readonly kind: 'tokenCredential'; readonly blobEndpoint: string; readonly credential: TokenCredential; readonly container: string };

type Failure = SettingError<ModelSetting>;

/**
 * Opens a container as a ModelStore. Validates the access locally first, so typos fail fast. The
 * SDK sends through the network layer with its own retries off: the transport's policy retries.
 */
export function openBlobStore(access: BlobAccess, transport: AzureTransport): ModelStore {
  const options: StoragePipelineOptions = {
    httpClient: storageHttpClient(sdkHttpClient(transport, AZURE_BODY_LIMITS.blobListing)),
    retryOptions: { maxTries: 1 },
    userAgentOptions: { userAgentPrefix: 'FetchLatestModel/1' },
  };
  return new BlobModelStore(containerFor(access, options));
}

/**
 * The storage SDK takes its HttpClient in the older core-http shape (a WebResource in, a response
 * out). The response's request must be the WebResource it was given: the SDK finds the operation
 * it is deserializing through it.
 */
function storageHttpClient(client: HttpClient): IHttpClient {
  return {
    async sendRequest(resource) {
      const response = await client.sendRequest(createPipelineRequest({
        url: resource.url,
        method: resource.method,
        headers: createHttpHeaders(resource.headers.toJson({ preserveCase: true })),
        body: resource.body,
        abortSignal: resource.abortSignal,
        streamResponseStatusCodes: resource.streamResponseStatusCodes,
      }));
      return { request: resource, status: response.status, headers: toHttpHeadersLike(response.headers), bodyAsText: response.bodyAsText, readableStreamBody: response.readableStreamBody };
    },
  };
}

function containerFor(access: BlobAccess, options: StoragePipelineOptions): ContainerClient {
  switch (access.kind) {
    case 'connectionString': {
      let service: BlobServiceClient;
      try {
        service = BlobServiceClient.fromConnectionString(access.connectionString, options);
      } catch {
        throw new SettingError<ModelSetting>('storeCredential', 'ConnectionStringInvalid', [INPUT_SLOT]);
      }
      return service.getContainerClient(access.container);
    }
    case 'sasUrl':
      return containerFromSasUrl(access.sasUrl, access.container, options);
    case 'tokenCredential':
      return new BlobServiceClient(access.blobEndpoint, access.credential, options).getContainerClient(access.container);
  }
}

/**
 * What is wrong with a SAS URL, or with the container beside it, as the failure to report; or
 * undefined. Pure but for the clock: the input reader checks a SAS with it before any work.
 */
export function sasUrlProblem(sasUrl: string, container: string | undefined): Failure | undefined {
  const target = sasTarget(sasUrl, container);
  return target instanceof SettingError ? target : undefined;
}

function containerFromSasUrl(sasUrl: string, container: string | undefined, options: StoragePipelineOptions): ContainerClient {
  const target = sasTarget(sasUrl, container);
  if (target instanceof SettingError) throw target;
  if (target.named) return new ContainerClient(sasUrl, new AnonymousCredential(), options);
  return new BlobServiceClient(sasUrl, undefined, options).getContainerClient(container!);
}

/** The container a SAS URL names (if it names one), or why it cannot be used. */
function sasTarget(sasUrl: string, container: string | undefined): { readonly named?: string } | Failure {
  const unusable = (reason: string) => new SettingError<ModelSetting>('storeCredential', 'SasUrlInvalid', [INPUT_SLOT, reason]);
  let url: URL;
  try {
    url = new URL(sasUrl);
  } catch {
    return unusable('it is not a URL');
  }
  if (!/^https?:$/.test(url.protocol)) return unusable(`the scheme is ${url.protocol} (use https)`);
  if (!url.searchParams.get('sig')) return unusable('it has no SAS token (no sig= parameter)');
  const expiry = url.searchParams.get('se');
  if (expiry && Date.parse(expiry) < Date.now()) return new SettingError<ModelSetting>('storeCredential', 'SasUrlExpired', [INPUT_SLOT, expiry]);
  const named = containerNamedBy(url);
  if (named && container && named !== container) return new SettingError<ModelSetting>('storeContainer', 'SasContainerMismatch', [container, named]);
  if (!named && !container) return new SettingError<ModelSetting>('storeContainer', 'InputRequired', [INPUT_SLOT, 'the SAS URL names no container']);
  return { named };
}

/** Path-style (Azurite, IP hosts) URLs carry the account first: /account/container. */
function containerNamedBy(url: URL): string | undefined {
  const segments = url.pathname.split('/').filter(Boolean);
  const pathStyle = /^(\d+\.){3}\d+$|^localhost$|^\[/.test(url.hostname);
  return segments[pathStyle ? 1 : 0];
}

class BlobModelStore implements ModelStore {
  readonly location: string;
  constructor(private readonly container: ContainerClient) {
    this.location = withoutQuery(container.url);
  }

  async *list(prefix: string, signal: AbortSignal): AsyncIterable<StoredObject> {
    try {
      for await (const item of this.blobsUnder(prefix, signal)) {
        const metadata = lowerCaseKeys(item.metadata);
        if (metadata.hdi_isfolder === 'true') continue; // folder markers of accounts with a hierarchical namespace
        yield Object.freeze({
          name: item.name,
          size: item.properties.contentLength ?? 0,
          etag: item.properties.etag ?? '',
          lastModified: item.properties.lastModified,
          contentMd5: item.properties.contentMD5 ? Buffer.from(item.properties.contentMD5).toString('base64') : undefined,
          sha256Metadata: metadata.sha256,
        });
      }
    } catch (error) {
      throw this.explain(error, 'list');
    }
  }

  async *findByTags(query: string, prefix: string, signal: AbortSignal): AsyncIterable<string> {
    try {
      for await (const page of this.container.findBlobsByTags(query, { abortSignal: signal }).byPage({ maxPageSize: BLOB_PAGE_SIZE })) {
        for (const item of page.blobs) if (item.name.startsWith(prefix)) yield item.name;
      }
    } catch (error) {
      throw this.explain(error, 'findByTags');
    }
  }

  async readRange(object: StoredObject, offset: number, count: number, signal: AbortSignal): Promise<Readable> {
    try {
      const response = await this.container.getBlobClient(object.name).download(offset, count, {
        abortSignal: signal,
        conditions: { ifMatch: object.etag },
        maxRetryRequests: 0, // resuming is ours: the downloader knows which bytes it already wrote
      });
      return response.readableStreamBody as Readable;
    } catch (error) {
      throw this.explain(error, object.name);
    }
  }

  /** Pages of a bounded size, so no listing answer outgrows AZURE_BODY_LIMITS.blobListing. */
  private async *blobsUnder(prefix: string, signal: AbortSignal) {
    for await (const page of this.container.listBlobsFlat({ prefix, includeMetadata: true, abortSignal: signal }).byPage({ maxPageSize: BLOB_PAGE_SIZE })) {
      yield* page.segment.blobItems;
    }
  }

  uriOf(name: string): string {
    return withoutQuery(this.container.getBlobClient(name).url);
  }

  /**
   * Turns a storage error into one that says what to do. The network layer's own errors pass
   * through as they are: the downloader decides from them whether to resume, and the task runner
   * explains them naming the peer.
   */
  private explain(error: unknown, what: string): unknown {
    if (error instanceof NetworkError && error.code === 'ENOTFOUND') return new RemoteError('StorageUnreachable', [this.location, error.code], { cause: error });
    if (isNetworkLayerError(error)) return error;
    const status = (error as { statusCode?: number }).statusCode;
    const code = (error as { code?: string }).code ?? '';
    const detail = firstLine(error);
    if (code === 'ContainerNotFound') return new SettingError<ModelSetting>('storeContainer', 'ContainerNotFound', [this.location]);
    if (code === 'ConditionNotMet' || status === 412) return new TaskError('BlobChanged', [what]);
    if (code === 'BlobNotFound') return new TaskError('BlobChanged', [what]);
    const refused = (key: MessageKey, ...rest: string[]) => new SettingError<ModelSetting>('storeCredential', key, [this.location, INPUT_SLOT, ...rest]);
    if (code === 'AuthorizationFailure') return refused('StorageAuthorizationFailure');
    if (status === 403 && /^Authorization(PermissionMismatch|ResourceTypeMismatch|ServiceMismatch)/.test(code)) return refused('StoragePermissionDenied', code);
    if (status === 403 || status === 401) return refused('StorageAuthenticationFailed', detail);
    if (error instanceof TaskError) return error;
    return new RemoteError('StorageRequestFailed', [what, this.location, status ?? code, detail], { cause: error });
  }
}

function lowerCaseKeys(record: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).map(([key, value]) => [key.toLowerCase(), value]));
}

/** Storage error messages carry RequestId and Time lines; the first line is the useful one. */
function firstLine(error: unknown): string {
  return withoutQuery(String((error as Error)?.message ?? error).split('\n')[0]).slice(0, 300);
}
