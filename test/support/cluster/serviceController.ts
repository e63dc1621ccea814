/**
 * Services of type LoadBalancer, as AKS's cloud provider handles them: after loadBalancerDelayMs the
 * service gets status.loadBalancer.ingress[0].ip, and (serveLoadBalancers) that address answers HTTP
 * as the app: it forwards to one ready endpoint (round robin) through the PodNetwork, or answers 503
 * when no pod behind the selector is ready.
 */
import type * as http from 'node:http';
import { type ControllerContext, R } from './context';
import { Frontend } from './loadBalancer';
import { readyCondition } from './replicaSetController';
import { type PodNetwork, sendJsonAnswer } from './podNetwork';
import type { Pod, Service } from './types';

export interface LoadBalancerInfo {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly ports: number[];
  /** service.beta.kubernetes.io/azure-dns-label-name: AKS would publish <label>.<region>.cloudapp.azure.com. */
  readonly dnsLabel?: string;
}

interface Balancer { uid: string; frontend?: Frontend; pending: boolean }

const DNS_LABEL = 'service.beta.kubernetes.io/azure-dns-label-name';
const SOURCE = { component: 'service-controller' };
const CLOUD = { manager: 'cloud-controller-manager', subresource: 'status' } as const;

function servicePorts(svc: Service): number[] {
  return (svc.spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.port);
}

export class ServiceController {
  private readonly balancers = new Map<string, Balancer>();
  private roundRobin = 0;

  constructor(private readonly ctx: ControllerContext, private readonly options: { delayMs: number; serve: boolean; pods: PodNetwork }) {}

  list(): LoadBalancerInfo[] {
    return [...this.balancers.entries()].flatMap(([key, b]) => {
      if (!b.frontend) return [];
      const [namespace, name] = key.split('/');
      const svc = this.ctx.api.tryGet(R.service, namespace, name);
      return [{ namespace, name, ip: b.frontend.ip, ports: svc ? servicePorts(svc as Service) : [], dnsLabel: svc?.metadata.annotations?.[DNS_LABEL] }];
    });
  }

  async sync(namespace: string, name: string): Promise<void> {
    const key = `${namespace}/${name}`;
    const svc = this.ctx.api.tryGet(R.service, namespace, name) as Service | undefined;
    const balancer = this.balancers.get(key);
    const wanted = svc?.spec.type === 'LoadBalancer';
    if (balancer && (!wanted || svc?.metadata.uid !== balancer.uid)) await this.remove(key, balancer, svc);
    if (!svc || !wanted) return;
    const current = this.balancers.get(key);
    if (!current) {
      this.balancers.set(key, { uid: svc.metadata.uid ?? '', pending: true });
      this.ctx.events.record(svc, 'Normal', 'EnsuringLoadBalancer', 'Ensuring load balancer', SOURCE);
      this.ctx.timers.after(this.options.delayMs, () => this.ensure(key));
    } else if (current.frontend) {
      await current.frontend.setPorts(servicePorts(svc));
      this.publish(svc, current.frontend.ip);
    }
  }

  private async ensure(key: string): Promise<void> {
    const balancer = this.balancers.get(key);
    const [namespace, name] = key.split('/');
    const svc = this.ctx.api.tryGet(R.service, namespace, name) as Service | undefined;
    if (!balancer || !svc || svc.metadata.uid !== balancer.uid) return;
    try {
      const frontend = await Frontend.open(servicePorts(svc), this.options.serve, (port) => this.answer(namespace, name, port));
      if (this.balancers.get(key) !== balancer || this.ctx.timers.isStopped) return void (await frontend.close());
      balancer.frontend = frontend;
      balancer.pending = false;
      this.publish(svc, frontend.ip);
      this.ctx.events.record(svc, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer', SOURCE);
    } catch (error) {
      this.ctx.onError(error);
      this.ctx.events.record(svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: failed to ensure load balancer: ${(error as Error).message}`, SOURCE);
    }
  }

  private publish(svc: Service, ip: string): void {
    this.ctx.api.modify(R.service, svc.metadata.namespace, svc.metadata.name ?? '', CLOUD, (o) => {
      o.status = { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } };
    });
  }

  private async remove(key: string, balancer: Balancer, svc: Service | undefined): Promise<void> {
    this.balancers.delete(key);
    await balancer.frontend?.close();
    if (svc && svc.metadata.uid === balancer.uid) {
      this.ctx.events.record(svc, 'Normal', 'DeletedLoadBalancer', 'Deleted load balancer', SOURCE);
      this.ctx.api.modify(R.service, svc.metadata.namespace, svc.metadata.name ?? '', CLOUD, (o) => {
        o.status = { loadBalancer: {} };
      });
    }
  }

  async stop(): Promise<void> {
    const all = [...this.balancers.values()];
    this.balancers.clear();
    await Promise.all(all.map((b) => b.frontend?.close()));
  }

  private answer(namespace: string, name: string, port: number): http.RequestListener {
    return (req, res) => {
      const svc = this.ctx.api.tryGet(R.service, namespace, name) as Service | undefined;
      const selector = svc?.spec.selector ?? {};
      const pods = !svc || Object.keys(selector).length === 0 ? [] : (this.ctx.api.list(R.pod, namespace) as Pod[]).filter((p) =>
        !p.metadata.deletionTimestamp && readyCondition(p) && Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v));
      if (pods.length === 0) {
        req.resume();
        return sendJsonAnswer(res, 503, { error: 'no ready endpoints', service: `${namespace}/${name}` });
      }
      const pod = pods[this.roundRobin++ % pods.length];
      const target = svc?.spec.ports?.find((p) => p.port === port)?.targetPort ?? port;
      this.options.pods.forward(pod, target, req.url ?? '/', req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJsonAnswer(res, 502, { error: `the pod did not answer: ${(error as Error).message}` });
        else res.destroy();
      });
    };
  }
}
