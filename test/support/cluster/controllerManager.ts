/**
 * Runs the controllers. Store changes only queue work (a write from inside a store listener would
 * reach watchers out of order); the queue drains on the next timer tick, repeated requests for one
 * object collapse, and each controller re-reads the current state when it runs.
 */
import { type ControllerContext, type WorkKind, controllerOf } from './context';
import { DeploymentController } from './deploymentController';
import type { EventRecorder } from './events';
import { Kubelet, type KubeletOptions } from './kubelet';
import type { ObjectApi } from './objectApi';
import { type PodNetwork, type ScriptedApp, ScriptedPodNetwork } from './podNetwork';
import { RuncKubelet, type RuntimeOptions } from './runtime/runcKubelet';
import { ReplicaSetController } from './replicaSetController';
import { DaemonSetController } from './daemonSetController';
import { StatefulSetController } from './statefulSetController';
import { RESOURCES } from './resources';
import { type LoadBalancerInfo, ServiceController } from './serviceController';
import type { Store, StoreEvent } from './store';
import type { Timers } from './timers';
import type { KubeObject } from './types';

export interface ControllerOptions extends KubeletOptions {
  /** What scripted pods answer (the default kubelet). */
  readonly podApp: ScriptedApp;
  /** Run pods as real containers (runc) instead. */
  readonly runtime?: RuntimeOptions;
  readonly loadBalancerDelayMs: number;
  readonly serveLoadBalancers: boolean;
}

type Work = { kind: WorkKind; namespace: string; name: string } | { kind: 'collect'; object: KubeObject; namespaceGone: boolean };

export class ControllerManager {
  private readonly ctx: ControllerContext;
  private readonly deployments: DeploymentController;
  private readonly replicaSets: ReplicaSetController;
  private readonly statefulSets: StatefulSetController;
  private readonly daemonSets: DaemonSetController;
  private readonly kubelet: Kubelet;
  private readonly runtime?: RuncKubelet;
  /** Where load balancers and the pod proxy send requests: the scripted app, or the real containers. */
  readonly pods: PodNetwork;
  private readonly services: ServiceController;
  private readonly pending = new Map<string, Work>();
  private flushing = false;
  private unsubscribe = () => undefined as unknown;

  constructor(api: ObjectApi, store: Store, timers: Timers, events: EventRecorder, options: ControllerOptions, onError: (e: unknown) => void) {
    this.ctx = { api, store, timers, events, onError, enqueue: (kind, namespace, name, delayMs) => this.enqueue({ kind, namespace, name }, delayMs) };
    this.deployments = new DeploymentController(this.ctx);
    this.replicaSets = new ReplicaSetController(this.ctx);
    this.statefulSets = new StatefulSetController(this.ctx);
    this.daemonSets = new DaemonSetController(this.ctx);
    this.runtime = options.runtime ? new RuncKubelet(this.ctx, options, options.runtime) : undefined;
    this.kubelet = this.runtime ?? new Kubelet(this.ctx, options);
    this.pods = this.runtime ?? new ScriptedPodNetwork(api, options.podApp);
    this.services = new ServiceController(this.ctx, { delayMs: options.loadBalancerDelayMs, serve: options.serveLoadBalancers, pods: this.pods });
  }

  start(): void {
    this.unsubscribe = this.ctx.store.subscribe((event) => this.observe(event));
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    this.pending.clear();
    await this.services.stop();
    await this.runtime?.stop();
  }

  /** The real containers' processes (runtime kubelet); empty for scripted pods. */
  containerProcesses(): ReturnType<RuncKubelet['processes']> {
    return this.runtime?.processes() ?? [];
  }

  loadBalancers(): LoadBalancerInfo[] {
    return this.services.list();
  }

  private observe(event: StoreEvent): void {
    const { object } = event;
    const namespace = object.metadata.namespace ?? '';
    const owner = controllerOf(object);
    switch (event.resource.kind) {
      case 'Deployment': this.enqueue({ kind: 'deployment', namespace, name: object.metadata.name ?? '' }); break;
      case 'ReplicaSet':
        this.enqueue({ kind: 'replicaset', namespace, name: object.metadata.name ?? '' });
        if (owner?.kind === 'Deployment') this.enqueue({ kind: 'deployment', namespace, name: owner.name });
        break;
      case 'StatefulSet': this.enqueue({ kind: 'statefulset', namespace, name: object.metadata.name ?? '' }); break;
      case 'DaemonSet': this.enqueue({ kind: 'daemonset', namespace, name: object.metadata.name ?? '' }); break;
      case 'Pod':
        this.kubelet.onPodEvent(event);
        if (owner?.kind === 'ReplicaSet') this.enqueue({ kind: 'replicaset', namespace, name: owner.name });
        if (owner?.kind === 'StatefulSet') this.enqueue({ kind: 'statefulset', namespace, name: owner.name });
        if (owner?.kind === 'DaemonSet') this.enqueue({ kind: 'daemonset', namespace, name: owner.name });
        break;
      case 'Service': this.enqueue({ kind: 'service', namespace, name: object.metadata.name ?? '' }); break;
    }
    if (event.type === 'DELETED') this.enqueue({ kind: 'collect', object, namespaceGone: event.resource.kind === 'Namespace' });
  }

  private enqueue(work: Work, delayMs = 0): void {
    if (delayMs > 0) return void this.ctx.timers.after(delayMs, () => this.enqueue(work));
    const key = work.kind === 'collect' ? `collect/${work.object.metadata.uid}` : `${work.kind}/${work.namespace}/${work.name}`;
    this.pending.set(key, work);
    if (!this.flushing) {
      this.flushing = true;
      this.ctx.timers.after(0, () => this.flush());
    }
  }

  private async flush(): Promise<void> {
    try {
      // Bounded rounds: a controller that keeps re-queuing itself must not starve the HTTP server.
      for (let round = 0; round < 50 && this.pending.size > 0; round += 1) {
        const batch = [...this.pending.values()];
        this.pending.clear();
        for (const work of batch) {
          try {
            await this.run(work);
          } catch (error) {
            this.ctx.onError(error);
          }
        }
      }
    } finally {
      this.flushing = false;
      if (this.pending.size > 0) {
        this.flushing = true;
        this.ctx.timers.after(10, () => this.flush());
      }
    }
  }

  private async run(work: Work): Promise<void> {
    switch (work.kind) {
      case 'deployment': return this.deployments.sync(work.namespace, work.name);
      case 'replicaset': return this.replicaSets.sync(work.namespace, work.name);
      case 'statefulset': return this.statefulSets.sync(work.namespace, work.name);
      case 'daemonset': return this.daemonSets.sync(work.namespace, work.name);
      case 'service': return this.services.sync(work.namespace, work.name);
      case 'collect': return this.collect(work.object, work.namespaceGone);
    }
  }

  /** The garbage collector (background propagation) and the namespace controller, in one. */
  private collect(gone: KubeObject, namespaceGone: boolean): void {
    for (const resource of RESOURCES.filter((r) => r.namespaced)) {
      for (const object of this.ctx.api.list(resource, namespaceGone ? gone.metadata.name : gone.metadata.namespace)) {
        const refs = object.metadata.ownerReferences ?? [];
        const orphaned = refs.length > 0 && refs.every((r) => r.uid === gone.metadata.uid);
        if (namespaceGone || orphaned) this.ctx.api.delete(resource, object.metadata.namespace, object.metadata.name ?? '');
      }
    }
  }
}
