/**
 * A connection to one Kubernetes cluster: the kubeconfig of the service connection, checked up front
 * so a broken one fails with a message naming the input, never with a client-node stack trace.
 * Messages name contexts, clusters and users, never the kubeconfig text, tokens or keys.
 */
import {
  AppsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, type V1APIResource,
} from '@kubernetes/client-node';
import { InputError } from '../errors';
import { KubeconfigError, parseKubeconfig, selectContext } from './kubeconfig';

export interface Cluster {
  readonly config: KubeConfig;
  readonly objects: KubernetesObjectApi;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  /** The API server URL of the current context, for messages. */
  readonly server: string;
}

export const KUBECONFIG_INPUT = 'kubernetesServiceConnection';

/** KubernetesObjectApi with its discovery look-up made public: apply needs to know a kind's scope. */
class DiscoveringObjectApi extends KubernetesObjectApi {
  apiResource(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    return this.resource(apiVersion, kind);
  }
}

export function connectCluster(kubeconfigYaml: string, input: string = KUBECONFIG_INPUT): Cluster {
  const config = loadKubeconfig(kubeconfigYaml, input);
  const server = checkServer(config, input);
  return Object.freeze({
    config, server,
    // No default namespace from the context: every call here names its namespace explicitly.
    objects: config.makeApiClient(DiscoveringObjectApi),
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
  });
}

/**
 * The resource a kind maps to in the cluster (scope, plural name), from discovery, cached per
 * apiVersion by client-node. Undefined when the group/version is served but not the kind; a
 * group/version the cluster does not serve rejects with client-node's 404 ApiException.
 */
export function apiResource(cluster: Cluster, apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
  const api = cluster.objects instanceof DiscoveringObjectApi ? cluster.objects : cluster.config.makeApiClient(DiscoveringObjectApi);
  return api.apiResource(apiVersion, kind);
}

function malformed(input: string, reason: string): InputError {
  return new InputError(input, 'KubeconfigMalformed', [input, reason]);
}

/** The same checks the service connection gets (kube/kubeconfig.ts), then client-node's own reading. */
function loadKubeconfig(text: string, input: string): KubeConfig {
  let current: string | undefined;
  try {
    const document = parseKubeconfig(text);
    current = document['current-context'];
    selectContext(document, undefined);
  } catch (error) {
    if (!(error instanceof KubeconfigError)) throw error;
    const contexts = error.contexts.map((name) => `'${name}'`).join(', ') || '(none)';
    if (error.problem === 'noContext') throw new InputError(input, 'KubeconfigNoCurrentContext', [input, contexts]);
    if (error.problem === 'contextMissing') throw new InputError(input, 'KubeconfigContextMissing', [input, current, contexts]);
    throw malformed(input, error.reason);
  }
  const config = new KubeConfig();
  try {
    config.loadFromString(text);
  } catch (error) {
    // client-node's entry checks say which entry lacks what ("clusters[0].cluster.server is missing").
    const message = error instanceof Error && /^(clusters|users|contexts)\[\d+\][\w.-]* is missing$/.test(error.message) ? error.message : 'client-node could not read it';
    throw malformed(input, message);
  }
  return config;
}

/** The current context's server URL; client-node refuses plain http unless TLS checks are off. */
function checkServer(config: KubeConfig, input: string): string {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw malformed(input, 'its current context names no cluster');
  if (!/^https:\/\//i.test(cluster.server) && !(cluster.server.startsWith('http:') && cluster.skipTLSVerify)) {
    throw new InputError(input, 'KubeconfigServerInvalid', [input, cluster.name, cluster.server]);
  }
  return cluster.server;
}
