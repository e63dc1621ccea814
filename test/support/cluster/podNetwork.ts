/**
 * What answers HTTP inside a pod, for the load balancers and the API server's pod proxy alike. The
 * scripted kubelet's pods run a stand-in app (ScriptedApp): GET /version reports the model digest
 * the pod template's annotation names (as a correctly baked image would), and a test may script any
 * other answer, a wrong digest included. Where nothing is scripted, a pod answers as the simulator's
 * load balancers always did: 200 with its name, image and environment. A real-runtime kubelet puts a
 * PodNetwork of its own in place that forwards to the container.
 */
import type * as http from 'node:http';
import { Provenance } from '../../../tasks/common/provenance';
import { readBody } from '../standInServer';
import { R } from './context';
import type { ObjectApi } from './objectApi';
import type { Container, EnvVar, KubeObject, Pod } from './types';
import { isMap } from './types';

export interface PodRequest {
  readonly pod: Pod;
  readonly container: Container;
  /** The container's environment as the app would see it. */
  readonly env: Readonly<Record<string, string>>;
  readonly method: string;
  /** Path and query, as the app receives them. */
  readonly path: string;
  readonly body: string;
}

export interface PodAnswer {
  readonly status: number;
  readonly body: unknown;
  /** Milliseconds to wait before answering (a slow model). */
  readonly delayMs?: number;
}

/** A scripted pod's app: an answer, or undefined for the simulator's default. */
export type ScriptedApp = (request: PodRequest) => PodAnswer | undefined;

export interface PodNetwork {
  /** Sends req to the pod's port (a number or a port name) as `path`, and the answer to res. */
  forward(pod: Pod, port: number | string, path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
  /** A container's own output for `kubectl logs`; absent (or undefined) where the simulator makes it up. */
  logs?(pod: Pod, container: string, previous: boolean): string | undefined;
}

/** The container listening on `port` (by number or name), else the first. */
export function containerFor(pod: Pod, port: number | string): Container {
  return pod.spec.containers.find((c) => (c.ports ?? []).some((p) => p.containerPort === port || p.name === port)) ?? pod.spec.containers[0];
}

/** The stand-in app's own routes: /version says the model the pod template says it carries. */
export const defaultScriptedApp: ScriptedApp = (request) => {
  if (request.method !== 'GET' || request.path.split('?')[0] !== '/version') return undefined;
  const annotations = request.pod.metadata.annotations ?? {};
  return { status: 200, body: { model_version: annotations[Provenance.modelVersion] ?? null, model_digest: annotations[Provenance.modelDigest] ?? null } };
};

export function sendJsonAnswer(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export class ScriptedPodNetwork implements PodNetwork {
  constructor(private readonly api: ObjectApi, private readonly app: ScriptedApp) {}

  async forward(pod: Pod, port: number | string, path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const container = containerFor(pod, port);
    const env = podEnvironment(this.api, container, pod);
    const answer = this.app({ pod, container, env, method: req.method ?? 'GET', path, body }) ?? defaultScriptedApp({ pod, container, env, method: req.method ?? 'GET', path, body });
    if (answer?.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (answer) return sendJsonAnswer(res, answer.status, answer.body);
    sendJsonAnswer(res, 200, { pod: pod.metadata.name, image: container.image, env });
  }
}

/** The container's environment as the app would see it: literal values, secret/config map keys, field refs. */
export function podEnvironment(api: ObjectApi, container: Container, pod: Pod): Record<string, string> {
  const env: Record<string, string> = {};
  const fromData = (resource: typeof R.secret, ref: { name: string; key: string }, base64: boolean) => {
    const data = api.tryGet(resource, pod.metadata.namespace, ref.name)?.data;
    const value = isMap(data) ? data[ref.key] : undefined;
    return typeof value === 'string' ? (base64 ? Buffer.from(value, 'base64').toString('utf8') : value) : undefined;
  };
  const field = (path: string) => {
    let current: unknown = pod as KubeObject;
    for (const part of path.split('.')) current = isMap(current) ? current[part] : undefined;
    return current === undefined ? undefined : String(current);
  };
  for (const e of container.env ?? ([] as EnvVar[])) {
    const value = e.value ?? (e.valueFrom?.secretKeyRef ? fromData(R.secret, e.valueFrom.secretKeyRef, true)
      : e.valueFrom?.configMapKeyRef ? fromData(R.configMap, e.valueFrom.configMapKeyRef, false)
        : e.valueFrom?.fieldRef ? field(e.valueFrom.fieldRef.fieldPath) : undefined);
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}
