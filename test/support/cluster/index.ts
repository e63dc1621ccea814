/**
 * An in-process Kubernetes API server for tests and the demo: discovery, OpenAPI v3, CRUD, patch,
 * server-side apply, watch, and controllers for Deployments, ReplicaSets, Pods ("kubelet") and
 * LoadBalancer Services — correct enough for `kubectl apply --server-side`, `rollout status` and
 * `rollout undo`, and for @kubernetes/client-node.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServer } from '../standInServer';
import { createTestCa } from '../tls';
import { type RequestRecord, createApiHandler } from './apiServer';
import { ClusterAllocations, NODE_IP, NODE_NAME, bootstrap } from './bootstrap';
import { ControllerManager } from './controllerManager';
import { EventRecorder } from './events';
import type { ImageBehaviour } from './kubelet';
import { ObjectApi } from './objectApi';
import { type PodAnswer, type PodRequest, type ScriptedApp, defaultScriptedApp } from './podNetwork';
import type { RuntimeOptions } from './runtime/runcKubelet';
import { resourceByAnyName } from './resources';
import type { LoadBalancerInfo } from './serviceController';
import { Store } from './store';
import { Timers } from './timers';

export type { ImageBehaviour, LoadBalancerInfo, PodAnswer, PodRequest, RequestRecord, RuntimeOptions, ScriptedApp };
export { defaultScriptedApp };

export interface ClusterSimulatorOptions {
  /** Decides what a pod with this image does: 'run' (becomes Ready), 'pullError' (ImagePullBackOff, never ready), 'crash' (CrashLoopBackOff). Default: every image runs. Async so a test can ask a real registry. */
  imageBehaviour?: (image: string) => Promise<ImageBehaviour> | ImageBehaviour;
  /**
   * What a scripted pod answers through a load balancer or the pod proxy; undefined falls back to
   * defaultScriptedApp (GET /version: the model digest of the pod template's annotation), then to
   * the pod's name, image and env. Default: defaultScriptedApp alone.
   */
  podApp?: ScriptedApp;
  /**
   * Run pods as real containers: pulled from this registry, unpacked, run with runc (as root), each
   * in its own network namespace; load balancers and the pod proxy reach the real app. Default: the
   * scripted kubelet (imageBehaviour, podApp), fast and with no app at all.
   */
  runtime?: RuntimeOptions;
  /** From a pod's creation to Ready (or to its pull error / first crash). Default 200. */
  podReadyDelayMs?: number;
  /** From a LoadBalancer Service's creation to its ingress IP. Default 300. */
  loadBalancerDelayMs?: number;
  /** Listen on each load balancer's IP and service ports, answering like the app. Default true. */
  serveLoadBalancers?: boolean;
  /** Bearer token required when set (except for /version and health checks, as on a real server). */
  auth?: { token: string };
  /** HTTPS with a throw-away test CA. Default true. */
  tls?: boolean;
  /** Reported by /version; kubectl's dispatcher here picks its matching client (1.27-1.33). Default "1.30.13". */
  kubernetesVersion?: string;
  /** Changes kept for watch resumption; older resourceVersions get 410 Expired. Default 5000. */
  watchCacheSize?: number;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK. Default 1000. */
  bookmarkIntervalMs?: number;
}

export interface ClusterSimulator {
  /** e.g. https://127.0.0.1:40123 */
  readonly url: string;
  readonly caPem?: string;
  readonly token?: string;
  /** YAML usable by kubectl and client-node; context namespace "default" unless given. */
  kubeconfig(options?: { namespace?: string }): string;
  /** Writes `kubeconfig` into `dir` and returns the file's path. */
  writeKubeconfig(dir: string): string;
  /** Direct access for assertions: a kind ("Deployment"), plural or short name; undefined when absent. */
  get(kind: string, namespace: string, name: string): unknown;
  list(kind: string, namespace?: string): unknown[];
  /** Called synchronously on every stored change, with the stored object (read-only), e.g. to time a rollout; returns an unsubscribe. */
  onChange(listener: (kind: string, object: unknown) => void): () => void;
  /** Every API request, in order. */
  readonly requests: RequestRecord[];
  /** Internal failures (controller exceptions, handler crashes); a healthy run leaves this empty. */
  readonly errors: readonly string[];
  /** Load balancers with an address, and the Azure DNS label each service asked for. */
  loadBalancers(): LoadBalancerInfo[];
  /** With a runtime: each running container's init process on the host (its user, its namespaces). */
  containerProcesses(): { namespace: string; pod: string; container: string; pid: number }[];
  stop(): Promise<void>;
}

function kubeconfigYaml(url: string, caPem: string | undefined, token: string | undefined, namespace: string): string {
  const cluster = [`    server: ${url}`];
  if (caPem) cluster.push(`    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`);
  return [
    'apiVersion: v1', 'kind: Config', 'preferences: {}',
    'clusters:', '- name: simulator', '  cluster:', ...cluster,
    // Without any credential kubectl stops to prompt for a username on https; the server ignores this one.
    'users:', '- name: simulator', `  user:\n    token: ${JSON.stringify(token ?? 'no-auth-required')}`,
    'contexts:', '- name: simulator', '  context:', '    cluster: simulator', '    user: simulator', `    namespace: ${namespace}`,
    'current-context: simulator', '',
  ].join('\n');
}

export async function startClusterSimulator(options: ClusterSimulatorOptions = {}): Promise<ClusterSimulator> {
  const errors: string[] = [];
  const onError = (error: unknown) => void errors.push(String((error as Error)?.stack ?? error));
  const kubernetesVersion = options.kubernetesVersion ?? '1.30.13';
  const timers = new Timers(onError);
  const store = new Store(options.watchCacheSize ?? 5000);
  const api = new ObjectApi(store, new ClusterAllocations(store));
  bootstrap(api, kubernetesVersion);
  const controllers = new ControllerManager(api, store, timers, new EventRecorder(api), {
    podApp: options.podApp ?? defaultScriptedApp, runtime: options.runtime,
    imageBehaviour: options.imageBehaviour ?? (() => 'run'),
    podReadyDelayMs: options.podReadyDelayMs ?? 200,
    loadBalancerDelayMs: options.loadBalancerDelayMs ?? 300,
    serveLoadBalancers: options.serveLoadBalancers ?? true,
    nodeName: NODE_NAME, nodeIp: NODE_IP,
  }, onError);
  controllers.start();

  const tlsDir = options.tls === false ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-sim-'));
  const ca = tlsDir ? createTestCa(tlsDir) : undefined;
  const caPem = ca ? fs.readFileSync(ca.caCert, 'utf8') : undefined;
  const requests: RequestRecord[] = [];
  const token = options.auth?.token;
  const handler = createApiHandler({
    store, api, kubernetesVersion, token, requests, onError, pods: controllers.pods,
    watch: { store, timers, bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000 },
  });
  const server = await startServer(handler, ca ? { cert: ca.cert, key: ca.key } : undefined);
  const url = server.origin;

  return {
    url, caPem, token, requests, errors,
    kubeconfig: (o = {}) => kubeconfigYaml(url, caPem, token, o.namespace ?? 'default'),
    writeKubeconfig(dir) {
      const file = path.join(dir, 'kubeconfig');
      fs.writeFileSync(file, kubeconfigYaml(url, caPem, token, 'default'), { mode: 0o600 });
      return file;
    },
    get: (kind, namespace, name) => store.get(resourceByAnyName(kind), namespace, name),
    list: (kind, namespace) => store.list(resourceByAnyName(kind), namespace),
    onChange: (listener) => store.subscribe((event) => listener(event.resource.kind, event.object)),
    loadBalancers: () => controllers.loadBalancers(),
    containerProcesses: () => controllers.containerProcesses(),
    async stop() {
      timers.stop();
      await controllers.stop();
      await server.close();
      if (tlsDir) fs.rmSync(tlsDir, { recursive: true, force: true });
    },
  };
}
