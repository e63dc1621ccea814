/**
 * Where a Service can be reached. A LoadBalancer gets its address from the cloud some time after it
 * is created (on AKS, often a minute or two), so that wait is bounded (its reads and pauses end
 * with it) and explains itself when it runs out; ClusterIP and NodePort services have their
 * address at once.
 */
import type { V1Service } from '@kubernetes/client-node';
import { TaskError } from '../errors';
import { withDeadline } from '../lifetime';
import type { Log } from '../log';
import { stoppedBy } from '../net/errors';
import { pause } from '../net/retry';
import { type CallOptions, kubeCall, kubeRead } from './apiCall';
import type { Cluster } from './cluster';
import { DNS_LABEL_ANNOTATION } from './generate';
import type { KubeObject } from './types';

export interface ServiceAddress {
  readonly type: string;
  /** The load balancer's IP, or the cluster IP for ClusterIP and NodePort services. */
  readonly ip?: string;
  /** When the cloud publishes a name (ingress[0].hostname); Azure DNS labels are only logged. */
  readonly hostname?: string;
  /** The first service port. */
  readonly port: number;
  readonly nodePort?: number;
  /** http://address[:port] for a load balancer; undefined when the agent cannot reach the service. */
  readonly url?: string;
}

export interface WaitForAddressOptions {
  readonly timeoutMs: number;
  readonly log: Log;
  /** How often the service is read while waiting; at most 250 ms so a fresh address is seen at once. */
  readonly pollMs?: number;
  readonly retry?: CallOptions['retry'];
}

const MAX_POLL_MS = 250;
/** Listing the service's events for the time-out message gets a moment of its own. */
const EVENTS_BUDGET_MS = 15_000;

export async function waitForServiceAddress(cluster: Cluster, namespace: string, name: string, options: WaitForAddressOptions): Promise<ServiceAddress> {
  const waiting = cluster.within(withDeadline(cluster.signal, options.timeoutMs, `waiting for the address of service '${name}'`));
  try {
    return await pollAddress(waiting, namespace, name, options);
  } catch (error) {
    if (!waiting.signal.aborted || stoppedBy(waiting.signal).reason !== 'deadline') throw error;
    throw await noAddress(cluster, namespace, name, options);
  }
}

async function pollAddress(cluster: Cluster, namespace: string, name: string, options: WaitForAddressOptions): Promise<ServiceAddress> {
  const pollMs = Math.min(options.pollMs ?? MAX_POLL_MS, MAX_POLL_MS);
  let announced = false;
  for (;;) {
    const address = addressNow(await readService(cluster, namespace, name, options), options.log);
    if (address) return address;
    if (!announced) options.log.info('DeployWaitingForAddress', Math.round(options.timeoutMs / 1000), name);
    announced = true;
    await pause(pollMs, cluster.signal);
  }
}

async function readService(cluster: Cluster, namespace: string, name: string, options: WaitForAddressOptions): Promise<V1Service> {
  const service = await kubeRead(cluster, `read service '${name}' in namespace '${namespace}'`,
    () => cluster.core.readNamespacedService({ name, namespace }), { log: options.log, namespace, retry: options.retry });
  if (!service) throw new TaskError('DeployServiceGone', [name, namespace]);
  return service;
}

/** The Service's address as read: a LoadBalancer's once the cloud gave it one (undefined before), any other type's at once. */
export function addressNow(service: V1Service, log: Log): ServiceAddress | undefined {
  const type = service.spec?.type ?? 'ClusterIP';
  if (type !== 'LoadBalancer') return internalAddress(service, type);
  const address = loadBalancerAddress(service);
  return address && reported(service, address, log);
}

/** The applied Service that selects these pod labels; a LoadBalancer, which users reach, wins over an internal one. */
export function serviceFor(applied: readonly KubeObject[], namespace: string, labels: Readonly<Record<string, string>>): KubeObject | undefined {
  const candidates = applied.filter((object) => object.kind === 'Service' && object.metadata?.namespace === namespace && selects(object, labels));
  return candidates.find((object) => (object.spec as { type?: string } | undefined)?.type === 'LoadBalancer') ?? candidates[0];
}

function selects(service: KubeObject, labels: Readonly<Record<string, string>>): boolean {
  const selector = (service.spec as { selector?: Record<string, string> } | undefined)?.selector ?? {};
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

function firstPort(service: V1Service): { port: number; nodePort?: number } {
  const port = service.spec?.ports?.[0];
  return { port: port?.port ?? 0, nodePort: port?.nodePort };
}

function internalAddress(service: V1Service, type: string): ServiceAddress {
  const ip = service.spec?.clusterIP && service.spec.clusterIP !== 'None' ? service.spec.clusterIP : undefined;
  return Object.freeze({ type, ip, ...firstPort(service) });
}

function loadBalancerAddress(service: V1Service): { ip?: string; hostname?: string } | undefined {
  const ingress = service.status?.loadBalancer?.ingress?.[0];
  if (!ingress?.ip && !ingress?.hostname) return undefined;
  return { ip: ingress.ip || undefined, hostname: ingress.hostname || undefined };
}

/** http://host, with the port only when it is not 80. IPv6 addresses get brackets. */
export function serviceUrl(host: string, port: number): string {
  const shown = host.includes(':') ? `[${host}]` : host;
  return `http://${shown}${port === 80 || port === 0 ? '' : `:${port}`}`;
}

function reported(service: V1Service, address: { ip?: string; hostname?: string }, log: Log): ServiceAddress {
  const { port, nodePort } = firstPort(service);
  const url = serviceUrl(address.hostname ?? address.ip ?? '', port);
  const name = service.metadata?.name ?? '';
  const dnsLabel = service.metadata?.annotations?.[DNS_LABEL_ANNOTATION];
  // The region is not known from the cluster, so the Azure name is only announced, not reported.
  if (dnsLabel && !address.hostname) log.info('DeployDnsLabel', name, dnsLabel, dnsLabel);
  log.info('DeployServiceAddress', name, 'LoadBalancer', url);
  return Object.freeze({ type: 'LoadBalancer', ...address, port, nodePort, url });
}

/** The timeout error, with the service's recent events: they say why the cloud did not provision it. */
async function noAddress(cluster: Cluster, namespace: string, name: string, options: WaitForAddressOptions): Promise<TaskError> {
  const seconds = Math.round(options.timeoutMs / 1000);
  const listing = cluster.within(withDeadline(cluster.signal, EVENTS_BUDGET_MS, `listing the events of service '${name}'`));
  let events = '(none)';
  try {
    const list = await kubeCall(listing, `list events of service '${name}'`, () => listing.core.listNamespacedEvent({
      namespace, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${name}`,
    }), { log: options.log, namespace, retry: options.retry });
    const lines = list.items.slice(-5).map((event) => `${event.type ?? ''} ${event.reason ?? ''}: ${event.message ?? ''}`.trim());
    if (lines.length > 0) events = lines.join('; ');
  } catch (error) {
    if (cluster.signal.aborted) throw error;
    events = `(could not list events: ${(error as Error).message})`;
  }
  return new TaskError('DeployServiceNoAddress', [name, namespace, seconds, name, namespace, events]);
}
