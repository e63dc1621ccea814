/**
 * The real-runtime kubelet: pods run as real containers. Each container's image is pulled from the
 * test registry and unpacked (ImageStore), then run with runc in its own network namespace; a small
 * bridge inside that namespace (bridge.cjs, started with nsenter) forwards a unix socket to the
 * container's ports, so load balancers, the pod proxy and readiness probes reach the real app.
 * Readiness probes are real HTTP requests; output goes to a log kept for `kubectl logs`; a container
 * that exits is restarted with a growing back-off, its exit code in the status. Status and Events are
 * written as the scripted kubelet writes them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { RegistryAccess } from '../../registry/imageTools';
import type { ControllerContext } from '../context';
import { type ContainerRun, Kubelet, type KubeletOptions, type PodRun } from '../kubelet';
import { type PodNetwork, containerFor, podEnvironment, sendJsonAnswer } from '../podNetwork';
import type { StoreEvent } from '../store';
import type { Container, Pod } from '../types';
import { timestamp } from '../types';
import { ImageStore, podRuntimeConfig } from './images';

export interface RuntimeOptions {
  /** Where pods pull from: images elsewhere fail to pull. */
  readonly registry: RegistryAccess;
  /** Scratch space for images, bundles, logs and sockets; a fresh folder is made under it. */
  readonly workDir: string;
}

interface Running {
  readonly id: string;
  readonly pod: { readonly namespace: string; readonly name: string; readonly container: string };
  pid?: number;
  readonly process: ChildProcess;
  readonly bridges: Map<number, { socket: string; process: ChildProcess }>;
  stopped: boolean;
}

const BRIDGE = path.join(__dirname, 'bridge.cjs');
const PROBE_MS = 250;

export class RuncKubelet extends Kubelet implements PodNetwork {
  private readonly images: ImageStore;
  private readonly containers = new Map<string, Running>();
  private readonly root: string;
  private counter = 0;
  private stopping = false;

  constructor(ctx: ControllerContext, options: KubeletOptions, runtime: RuntimeOptions) {
    super(ctx, options);
    this.root = fs.mkdtempSync(path.join(runtime.workDir, 'rt-'));
    this.images = new ImageStore(path.join(this.root, 'images'), runtime.registry);
  }

  private key(run: PodRun, c: ContainerRun): string {
    return `${run.uid}/${c.name}`;
  }

  private logFile(run: PodRun, c: ContainerRun, previous = false): string {
    return path.join(this.root, 'logs', `${run.uid}-${c.name}${previous ? '.previous' : ''}.log`);
  }

  override onPodEvent(event: StoreEvent): void {
    const uid = (event.object as Pod).metadata.uid ?? '';
    const run = this.runs.get(uid);
    super.onPodEvent(event);
    if (event.type === 'DELETED' && run) for (const c of run.containers) void this.kill(this.key(run, c));
  }

  protected override async pull(run: PodRun, pod: Pod): Promise<void> {
    for (const c of run.containers) {
      this.event(run, pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, c);
      const started = Date.now();
      let image;
      try {
        image = await this.images.image(c.image);
      } catch (error) {
        // The registry does not hold it (or it is elsewhere): ErrImagePull, then back-off, as the scripted kubelet shows it.
        if (this.runs.get(run.uid) !== run) return;
        // The tool's own words, without its command line: "manifest unknown", "not in the test registry".
        const why = (error as Error).message.split(' failed: ').pop()?.trim().split('\n').pop() ?? '';
        this.event(run, pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${why.slice(0, 300)}`, c);
        this.pullFailed(run, pod, c, 0);
        continue;
      }
      if (this.runs.get(run.uid) !== run || this.ctx.timers.isStopped || this.stopping) return;
      const ms = Date.now() - started;
      this.event(run, pod, 'Normal', 'Pulled', `Successfully pulled image "${c.image}" in ${ms}ms (${ms}ms including waiting)`, c);
      const spec = pod.spec.containers.find((container) => container.name === c.name) as Container;
      this.launch(run, pod, c, spec, image);
    }
  }

  private launch(run: PodRun, pod: Pod, c: ContainerRun, spec: Container, image: Awaited<ReturnType<ImageStore['image']>>): void {
    if (this.stopping) return;
    const id = `sim-${run.uid.slice(0, 8)}-${c.name}-${this.counter++}`;
    const bundle = path.join(this.root, 'bundles', id);
    fs.mkdirSync(bundle, { recursive: true });
    fs.mkdirSync(path.dirname(this.logFile(run, c)), { recursive: true });
    const config = podRuntimeConfig(image, {
      hostname: run.name, env: podEnvironment(this.ctx.api, spec, pod),
      command: spec.command as string[] | undefined, args: spec.args as string[] | undefined,
    });
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
    const log = fs.openSync(this.logFile(run, c), 'a');
    const pidFile = path.join(bundle, 'pid');
    const child = spawn('runc', ['--root', path.join(this.root, 'runc'), 'run', '--pid-file', pidFile, '--bundle', bundle, id], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const running: Running = { id, pod: { namespace: run.namespace, name: run.name, container: c.name }, process: child, bridges: new Map(), stopped: false };
    this.containers.set(this.key(run, c), running);
    this.startContainer(run, pod, c, false);
    child.on('exit', (code, signal) => this.exited(run, pod, c, spec, running, code ?? (signal ? 137 : 1)));
    void this.connect(spec, running, pidFile).then(() => this.probe(run, c, spec, running), (error: unknown) => {
      fs.appendFileSync(this.logFile(run, c), `simulator: the pod network did not come up: ${(error as Error).message}\n`);
    });
  }

  /** Waits for the container's pid, then starts a bridge for each declared port. */
  private async connect(spec: Container, running: Running, pidFile: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, 'utf8').trim() === '') {
      if (running.stopped || Date.now() > deadline) throw new Error('runc never reported the container pid');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const pid = fs.readFileSync(pidFile, 'utf8').trim();
    running.pid = Number(pid);
    const ports = new Set((spec.ports ?? []).map((p) => p.containerPort));
    const probePort = (spec.readinessProbe as { httpGet?: { port?: number } } | undefined)?.httpGet?.port;
    if (typeof probePort === 'number') ports.add(probePort);
    for (const port of ports) {
      const socket = path.join(this.root, 's', `${running.id.slice(-12)}-${port}.sock`);
      fs.mkdirSync(path.dirname(socket), { recursive: true });
      const bridge = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, BRIDGE, socket, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
      running.bridges.set(port, { socket, process: bridge });
      await new Promise<void>((resolve, reject) => {
        bridge.stdout?.once('data', () => resolve());
        bridge.once('exit', (code) => reject(new Error(`the bridge to port ${port} exited (${code})`)));
      });
    }
  }

  /** Real readiness probes, every PROBE_MS: ready while the probe answers 2xx (or, without a probe, once running). */
  private async probe(run: PodRun, c: ContainerRun, spec: Container, running: Running): Promise<void> {
    const get = (spec.readinessProbe as { httpGet?: { path?: string; port?: number | string } } | undefined)?.httpGet;
    while (!running.stopped && this.runs.get(run.uid) === run && !this.ctx.timers.isStopped) {
      const ok = get ? await this.httpProbe(running, spec, get) : true;
      if (running.stopped) return;
      if (ok !== c.ready) {
        c.ready = ok;
        this.writeStatus(run);
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_MS));
    }
  }

  private httpProbe(running: Running, spec: Container, get: { path?: string; port?: number | string }): Promise<boolean> {
    const port = typeof get.port === 'number' ? get.port : spec.ports?.find((p) => p.name === get.port)?.containerPort;
    const bridge = port === undefined ? undefined : running.bridges.get(port);
    if (!bridge) return Promise.resolve(false);
    return new Promise((resolve) => {
      const request = http.get({ socketPath: bridge.socket, path: get.path ?? '/', timeout: 1000, headers: { 'user-agent': 'kube-probe/1.30' } }, (response) => {
        response.resume();
        resolve((response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 400);
      });
      request.on('timeout', () => request.destroy());
      request.on('error', () => resolve(false));
    });
  }

  /** The container ended: exit code into the status, its log kept as the previous one, a restart after a growing back-off. */
  private exited(run: PodRun, pod: Pod, c: ContainerRun, spec: Container, running: Running, exitCode: number): void {
    this.stopBridges(running);
    void this.delete(running.id);
    if (running.stopped || this.runs.get(run.uid) !== run || this.ctx.timers.isStopped) return;
    running.stopped = true;
    const startedAt = (c.state.running as { startedAt?: string } | undefined)?.startedAt;
    c.lastState = { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: timestamp(), containerID: c.containerId } };
    c.restartCount += 1;
    c.started = false;
    c.ready = false;
    const backOffMs = Math.min(10_000, 500 * 2 ** (c.restartCount - 1));
    c.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.ceil(backOffMs / 1000)}s restarting failed container=${c.name} pod=${run.name}_${run.namespace}(${run.uid})` } };
    this.event(run, pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${run.name}_${run.namespace}(${run.uid})`, c);
    this.writeStatus(run);
    fs.renameSync(this.logFile(run, c), this.logFile(run, c, true));
    this.later(run, backOffMs, () => {
      void this.images.image(c.image).then((image) => {
        if (this.runs.get(run.uid) === run) this.launch(run, pod, c, spec, image);
      }, (error: unknown) => this.ctx.onError(error));
    });
  }

  private stopBridges(running: Running): void {
    for (const bridge of running.bridges.values()) bridge.process.kill('SIGKILL');
  }

  private delete(id: string): Promise<void> {
    return new Promise((resolve) => {
      spawn('runc', ['--root', path.join(this.root, 'runc'), 'delete', '--force', id], { stdio: 'ignore' }).on('close', () => resolve()).on('error', () => resolve());
    });
  }

  private async kill(key: string): Promise<void> {
    const running = this.containers.get(key);
    if (!running) return;
    this.containers.delete(key);
    running.stopped = true;
    this.stopBridges(running);
    await this.delete(running.id);
  }

  async forward(pod: Pod, port: number | string, requestPath: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const container = containerFor(pod, port);
    const numeric = typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
    const bridge = numeric === undefined ? undefined : this.containers.get(`${pod.metadata.uid}/${container.name}`)?.bridges.get(numeric);
    if (!bridge) {
      req.resume();
      return sendJsonAnswer(res, 503, { error: `nothing listens on port ${port} of pod ${pod.metadata.name}` });
    }
    await new Promise<void>((resolve, reject) => {
      const headers = { ...req.headers };
      delete headers.authorization;
      const upstream = http.request({ socketPath: bridge.socket, method: req.method, path: requestPath, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      });
      upstream.on('error', reject);
      req.pipe(upstream);
    });
  }

  /** The container's output, for `kubectl logs`; undefined when it has none (never started). */
  logs(pod: Pod, container: string, previous: boolean): string | undefined {
    const file = path.join(this.root, 'logs', `${pod.metadata.uid}-${container}${previous ? '.previous' : ''}.log`);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  }

  /** The running containers' init processes, as the host sees them. */
  processes(): { namespace: string; pod: string; container: string; pid: number }[] {
    return [...this.containers.values()].filter((r) => !r.stopped && r.pid).map((r) => ({ namespace: r.pod.namespace, pod: r.pod.name, container: r.pod.container, pid: r.pid as number }));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.images.settle();
    await Promise.all([...this.containers.keys()].map((key) => this.kill(key)));
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
