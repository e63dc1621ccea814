/**
 * A "kubelet" for one simulated node: binds new pods to it, then moves each container along what
 * imageBehaviour says about its image — 'run' (running and ready after podReadyDelayMs), 'pullError'
 * (ErrImagePull, then ImagePullBackOff, never ready) or 'crash' (starts, exits 1, CrashLoopBackOff,
 * restarts with growing back-off, never ready) — with the status and Events a real node reports.
 */
import { createHash } from 'node:crypto';
import { type ControllerContext, R } from './context';
import type { StoreEvent } from './store';
import type { Condition, Pod } from './types';
import { isMap, timestamp } from './types';

export type ImageBehaviour = 'run' | 'pullError' | 'crash';

export interface KubeletOptions {
  readonly imageBehaviour: (image: string) => Promise<ImageBehaviour> | ImageBehaviour;
  readonly podReadyDelayMs: number;
  readonly nodeName: string;
  readonly nodeIp: string;
}

export interface ContainerRun {
  readonly name: string;
  readonly image: string;
  state: Record<string, unknown>;
  lastState: Record<string, unknown>;
  ready: boolean;
  started: boolean;
  restartCount: number;
  containerId?: string;
}

export interface PodRun {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly containers: ContainerRun[];
  readonly podIp: string;
  readonly startTime: string;
  readonly cancels: (() => void)[];
  readonly transitions: Map<string, { status: string; time: string }>;
}

const KUBELET = { manager: 'kubelet', subresource: 'status' } as const;

export class Kubelet {
  protected readonly runs = new Map<string, PodRun>();
  private ipCounter = 10;

  constructor(protected readonly ctx: ControllerContext, protected readonly options: KubeletOptions) {}

  onPodEvent(event: StoreEvent): void {
    const pod = event.object as Pod;
    const uid = pod.metadata.uid ?? '';
    if (event.type === 'ADDED' && !this.runs.has(uid)) this.ctx.timers.after(5, () => this.bind(pod));
    if (event.type === 'DELETED') {
      for (const cancel of this.runs.get(uid)?.cancels ?? []) cancel();
      this.runs.delete(uid);
    }
  }

  protected source() {
    return { component: 'kubelet', host: this.options.nodeName };
  }

  protected bind(created: Pod): void {
    const { namespace = '', name = '', uid = '' } = created.metadata;
    const pod = this.ctx.api.modify(R.pod, namespace, name, { manager: 'kube-scheduler' }, (o) => {
      (o as Pod).spec.nodeName = this.options.nodeName;
    }) as Pod | undefined;
    if (!pod || pod.metadata.uid !== uid) return;
    this.ctx.events.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${this.options.nodeName}`, { component: 'default-scheduler' });
    const n = this.ipCounter++;
    const run: PodRun = {
      uid, namespace, name, podIp: `10.244.${n >> 8}.${n & 255}`, startTime: timestamp(), cancels: [], transitions: new Map(),
      containers: pod.spec.containers.map((c) => ({
        name: c.name, image: c.image, state: { waiting: { reason: 'ContainerCreating' } }, lastState: {}, ready: false, started: false, restartCount: 0,
      })),
    };
    this.runs.set(uid, run);
    this.writeStatus(run);
    void this.pull(run, pod);
  }

  protected later(run: PodRun, ms: number, fn: () => void): void {
    run.cancels.push(this.ctx.timers.after(ms, () => {
      if (this.runs.get(run.uid) === run) fn();
    }));
  }

  protected async pull(run: PodRun, pod: Pod): Promise<void> {
    const behaviours = await Promise.all(run.containers.map(async (c) => {
      try {
        return await this.options.imageBehaviour(c.image);
      } catch (error) {
        this.ctx.onError(error);
        return 'pullError' as const;
      }
    }));
    if (this.runs.get(run.uid) !== run || this.ctx.timers.isStopped) return;
    run.containers.forEach((c, i) => {
      this.event(run, pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, c);
      this.later(run, this.options.podReadyDelayMs, () => this.afterPull(run, pod, c, behaviours[i]));
    });
  }

  protected event(run: PodRun, pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string, c: ContainerRun): void {
    const current = this.ctx.api.tryGet(R.pod, run.namespace, run.name) ?? pod;
    this.ctx.events.record(current, type, reason, message, this.source(), `spec.containers{${c.name}}`);
  }

  protected afterPull(run: PodRun, pod: Pod, c: ContainerRun, behaviour: ImageBehaviour): void {
    if (behaviour === 'pullError') return this.pullFailed(run, pod, c, 0);
    this.event(run, pod, 'Normal', 'Pulled', `Successfully pulled image "${c.image}" in ${this.options.podReadyDelayMs}ms (${this.options.podReadyDelayMs}ms including waiting). Image size: 0 bytes.`, c);
    this.startContainer(run, pod, c, behaviour === 'run');
    if (behaviour === 'crash') this.later(run, Math.max(50, this.options.podReadyDelayMs / 2), () => this.crash(run, pod, c));
  }

  protected startContainer(run: PodRun, pod: Pod, c: ContainerRun, ready: boolean): void {
    c.containerId = `containerd://${createHash('sha256').update(`${run.uid}/${c.name}/${c.restartCount}`).digest('hex')}`;
    this.event(run, pod, 'Normal', 'Created', `Created container ${c.name}`, c);
    this.event(run, pod, 'Normal', 'Started', `Started container ${c.name}`, c);
    c.state = { running: { startedAt: timestamp() } };
    c.started = true;
    c.ready = ready;
    this.writeStatus(run);
  }

  protected pullFailed(run: PodRun, pod: Pod, c: ContainerRun, attempt: number): void {
    const reason = `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": failed to resolve reference "${c.image}": ${c.image}: not found`;
    this.event(run, pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${reason}`, c);
    this.event(run, pod, 'Warning', 'Failed', 'Error: ErrImagePull', c);
    c.state = { waiting: { reason: 'ErrImagePull', message: `failed to pull and unpack image "${c.image}": not found` } };
    this.writeStatus(run);
    this.later(run, Math.max(50, this.options.podReadyDelayMs / 2), () => {
      this.event(run, pod, 'Normal', 'BackOff', `Back-off pulling image "${c.image}"`, c);
      this.event(run, pod, 'Warning', 'Failed', 'Error: ImagePullBackOff', c);
      c.state = { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } };
      this.writeStatus(run);
      // The kubelet keeps retrying with a growing back-off; each retry fails the same way.
      this.later(run, Math.min(10_000, 1000 * 2 ** attempt), () => {
        this.event(run, pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, c);
        this.pullFailed(run, pod, c, attempt + 1);
      });
    });
  }

  protected crash(run: PodRun, pod: Pod, c: ContainerRun): void {
    const running = isMap(c.state.running) ? c.state.running : {};
    c.lastState = { terminated: { exitCode: 1, reason: 'Error', startedAt: running.startedAt, finishedAt: timestamp(), containerID: c.containerId } };
    c.restartCount += 1;
    c.started = false;
    c.ready = false;
    const backOffMs = Math.min(5000, this.options.podReadyDelayMs * 2 ** c.restartCount);
    c.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.ceil(backOffMs / 1000) * 10}s restarting failed container=${c.name} pod=${run.name}_${run.namespace}(${run.uid})` } };
    this.event(run, pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${run.name}_${run.namespace}(${run.uid})`, c);
    this.writeStatus(run);
    this.later(run, backOffMs, () => {
      this.event(run, pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`, c);
      this.startContainer(run, pod, c, false);
      this.later(run, Math.max(50, this.options.podReadyDelayMs / 2), () => this.crash(run, pod, c));
    });
  }

  /** A condition keeps its lastTransitionTime while its status stays (minReadySeconds counts from it). */
  private condition(run: PodRun, type: string, ok: boolean, reason?: string, message?: string): Condition {
    const status = ok ? 'True' : 'False';
    const previous = run.transitions.get(type);
    const time = previous?.status === status ? previous.time : timestamp();
    run.transitions.set(type, { status, time });
    return { type, status, lastProbeTime: null, lastTransitionTime: time, ...(ok ? {} : { reason, message }) };
  }

  protected writeStatus(run: PodRun): void {
    const unready = run.containers.filter((c) => !c.ready).map((c) => c.name);
    const ready = unready.length === 0;
    const why = `containers with unready status: [${unready.join(' ')}]`;
    const status = {
      phase: run.containers.some((c) => c.started || c.restartCount > 0) ? 'Running' : 'Pending',
      conditions: [
        this.condition(run, 'PodReadyToStartContainers', true), this.condition(run, 'Initialized', true),
        this.condition(run, 'Ready', ready, 'ContainersNotReady', why), this.condition(run, 'ContainersReady', ready, 'ContainersNotReady', why),
        this.condition(run, 'PodScheduled', true),
      ],
      hostIP: this.options.nodeIp, hostIPs: [{ ip: this.options.nodeIp }], podIP: run.podIp, podIPs: [{ ip: run.podIp }],
      startTime: run.startTime, qosClass: 'BestEffort',
      containerStatuses: run.containers.map((c) => ({
        name: c.name, state: c.state, lastState: c.lastState, ready: c.ready, restartCount: c.restartCount, image: c.image,
        imageID: c.containerId ? `${c.image.split('@')[0]}@sha256:${createHash('sha256').update(c.image).digest('hex')}` : '',
        ...(c.containerId ? { containerID: c.containerId } : {}), started: c.started,
      })),
    };
    this.ctx.api.modify(R.pod, run.namespace, run.name, KUBELET, (o) => {
      if (o.metadata.uid === run.uid) o.status = status;
    });
  }
}
