/**
 * A connection to one Kubernetes cluster: the kubeconfig, checked up front so a broken one fails
 * as told for where it came from (kubeconfigFailure.ts: the service connection, the credentials AKS
 * issued, or a kubeconfig handed over as such), never with a client-node stack trace.
 * Every request goes through the network layer (kube/transport.ts says what it carries), under a
 * signal: the task's cancel, plus the deadline of whichever phase holds the cluster (within()).
 * Messages name contexts, clusters and users, never the kubeconfig text, tokens or keys.
 */
import {
  AppsV1Api, CoreV1Api, HttpMethod, KubeConfig, KubernetesObjectApi, RequestContext, ServerConfiguration, type V1APIResource, createConfiguration,
} from '@kubernetes/client-node';
import type { TaskError } from '../errors';
import { kubeHttpLibrary, openKubeRequest, type KubeHttpOptions } from '../net/adapters/kubeHttp';
import type { NetResponse } from '../net/body';
import type { Network } from '../net/network';
import { KubeconfigError, type KubeconfigSource, parseKubeconfig, selectContext } from './kubeconfig';
import { kubeconfigFailure } from './kubeconfigFailure';
import { clusterNetwork, kubeAuth } from './transport';

/** The largest API answer held in memory: one object is at most 1.5 MiB (etcd), and lists here are of one Deployment's objects. */
export const KUBE_BODY_LIMIT = 8 * 1024 * 1024;

export interface Cluster {
  readonly config: KubeConfig;
  readonly objects: DiscoveringObjectApi;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  /** The API server URL of the current context, for messages. */
  readonly server: string;
  /** What ends this cluster's calls and retry pauses: the task's cancel and the phase's deadline. */
  readonly signal: AbortSignal;
  /** The same cluster with its calls also ended by `signal` (a phase's own deadline). */
  within(signal: AbortSignal): Cluster;
  /** The same cluster under `signal` alone, the task's cancel not included: clean-up after a cancel (lifetime.ts cleanupSignal). */
  detached(signal: AbortSignal): Cluster;
  /** GET `path` with the cluster's credentials; resolves once the headers are in (a watch streams the body). */
  open(path: string, query: Readonly<Record<string, string | undefined>>): Promise<NetResponse>;
  /** One request with the cluster's credentials (a pod proxy call), sent as given; resolves once the headers are in. */
  send(method: 'GET' | 'POST' | 'PUT', path: string, body?: string): Promise<NetResponse>;
  /** Closes the connections of a network this cluster made itself (for its proxy-url). */
  close(): void;
}

export interface ConnectOptions {
  readonly network: Network;
  /** The task's cancel; a cluster without one is never cancelled. */
  readonly signal?: AbortSignal;
}

/** KubernetesObjectApi with its discovery look-up made public: apply needs to know a kind's scope. */
class DiscoveringObjectApi extends KubernetesObjectApi {
  apiResource(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    return this.resource(apiVersion, kind);
  }
}

/** Runs a check of the kubeconfig, telling a problem it finds as `failure` does. */
function checking<T>(failure: (error: KubeconfigError) => TaskError, check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw error instanceof KubeconfigError ? failure(error) : error;
  }
}

/** `source` is a kubeconfig and where it came from (ResolvedCluster), or a kubeconfig handed over as such (tests, the demo). */
export function connectCluster(source: string | KubeconfigSource, options: ConnectOptions): Cluster {
  const { kubeconfig, origin }: KubeconfigSource = typeof source === 'string' ? { kubeconfig: source, origin: { kind: 'kubeconfig' } } : source;
  const failure = (error: KubeconfigError) => kubeconfigFailure(error, origin);
  const config = checking(failure, () => loadKubeconfig(kubeconfig));
  const server = checking(failure, () => checkServer(config));
  const network = checking(failure, () => clusterNetwork(config, options.network));
  const taskSignal = options.signal ?? new AbortController().signal;
  const auth = kubeAuth(config, taskSignal, failure);
  const close = () => (network === options.network ? undefined : network.close());
  const bound = (signal: AbortSignal): Cluster => {
    const http: KubeHttpOptions = { network, signal, auth, maxBodyBytes: KUBE_BODY_LIMIT };
    // No default namespace from the context: every call here names its namespace explicitly.
    const configuration = createConfiguration({ httpApi: kubeHttpLibrary(http), baseServer: new ServerConfiguration(server, {}) });
    return Object.freeze({
      config, server, signal, close,
      objects: new DiscoveringObjectApi(configuration),
      core: new CoreV1Api(configuration),
      apps: new AppsV1Api(configuration),
      within: (phase: AbortSignal) => bound(AbortSignal.any([signal, phase])),
      detached: (own: AbortSignal) => bound(own),
      open: (path: string, query: Readonly<Record<string, string | undefined>>) => openKubeRequest(requestFor(server, path, query), http),
      send: (method: 'GET' | 'POST' | 'PUT', path: string, body?: string) => openKubeRequest(requestWith(server, method, path, body), http),
    });
  };
  return bound(taskSignal);
}

function requestFor(server: string, path: string, query: Readonly<Record<string, string | undefined>>): RequestContext {
  const request = new RequestContext(`${server.replace(/\/+$/, '')}${path}`, HttpMethod.GET);
  for (const [name, value] of Object.entries(query)) if (value !== undefined) request.setQueryParam(name, value);
  request.setHeaderParam('Accept', 'application/json');
  return request;
}

/** A request whose path already carries its query (a pod proxy path); a body is sent as JSON. */
function requestWith(server: string, method: 'GET' | 'POST' | 'PUT', path: string, body: string | undefined): RequestContext {
  const request = new RequestContext(`${server.replace(/\/+$/, '')}${path}`, HttpMethod[method]);
  request.setHeaderParam('Accept', 'application/json');
  if (body !== undefined) {
    request.setHeaderParam('Content-Type', 'application/json');
    request.setBody(body);
  }
  return request;
}

/**
 * The resource a kind maps to in the cluster (scope, plural name), from discovery, cached per
 * apiVersion by client-node. Undefined when the group/version is served but not the kind; a
 * group/version the cluster does not serve rejects with client-node's 404 ApiException.
 */
export function apiResource(cluster: Cluster, apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
  return cluster.objects.apiResource(apiVersion, kind);
}

function malformed(reason: string): KubeconfigError {
  return new KubeconfigError('invalid', reason);
}

/** The same checks the service connection gets (kube/kubeconfig.ts), then client-node's own reading. */
function loadKubeconfig(text: string): KubeConfig {
  selectContext(parseKubeconfig(text), undefined);
  const config = new KubeConfig();
  try {
    config.loadFromString(text);
  } catch (error) {
    // client-node's entry checks say which entry lacks what ("clusters[0].cluster.server is missing").
    const message = error instanceof Error && /^(clusters|users|contexts)\[\d+\][\w.-]* is missing$/.test(error.message) ? error.message : 'client-node could not read it';
    throw malformed(message);
  }
  return config;
}

/** The current context's server URL: https, or plain http only where TLS checks are off (as client-node allows). */
function checkServer(config: KubeConfig): string {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw malformed('its current context names no cluster');
  if (!/^https:\/\//i.test(cluster.server) && !(cluster.server.startsWith('http:') && cluster.skipTLSVerify)) {
    throw new KubeconfigError('server', `cluster '${cluster.name}' has server '${cluster.server}', which is not an https:// URL`, [], [cluster.name, cluster.server]);
  }
  return cluster.server;
}
