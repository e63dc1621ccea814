/**
 * Asking a pod itself, through the API server's pod proxy
 * (`/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy{path}`): it needs no public address, and it
 * reaches exactly the pod named, so a check can say which pod serves what. The pods asked are the
 * ready, live ones running the deployed image.
 */
import { BODY_LIMITS } from '../net/body';
import { withDeadline } from '../lifetime';
import type { Log } from '../log';
import { type CallOptions, kubeCall } from './apiCall';
import type { Cluster } from './cluster';
import { type LabelSelector, labelSelectorQuery } from './ownership';
import type { DeploymentLike } from './rolloutStatus';

export interface ServingPod {
  readonly name: string;
  readonly namespace: string;
  /** The deployed container's first declared port; undefined when it declares none. */
  readonly port?: number;
}

export interface PodCall {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Starts with '/'; may carry a query. */
  readonly path: string;
  /** Sent as JSON. */
  readonly body?: unknown;
}

export interface PodReply {
  readonly status: number;
  /** The answer parsed as JSON, else its text. */
  readonly body: unknown;
  readonly elapsedMs: number;
}

interface PodLike {
  readonly metadata?: { readonly name?: string; readonly deletionTimestamp?: unknown };
  readonly spec?: { readonly containers?: readonly { readonly image?: string; readonly ports?: readonly { readonly containerPort?: number }[] }[] };
  readonly status?: { readonly conditions?: readonly { readonly type?: string; readonly status?: string }[] };
}

function isReady(pod: PodLike): boolean {
  return !pod.metadata?.deletionTimestamp && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The ready pods of the deployment that run `image`, with the port of that container. */
export async function servingPods(cluster: Cluster, namespace: string, deployment: DeploymentLike, image: string, options: CallOptions & { log: Log }): Promise<ServingPod[]> {
  // matchLabels only, as the private path's command lists them (privateDeploy.ts selectorOf).
  const labelSelector = labelSelectorQuery({ matchLabels: (deployment.spec as { selector?: LabelSelector } | undefined)?.selector?.matchLabels });
  const name = deployment.metadata?.name ?? '';
  const list = await kubeCall(cluster, `list the pods of deployment '${name}'`, () => cluster.core.listNamespacedPod({ namespace, labelSelector }), { ...options, namespace });
  return (list.items as PodLike[]).filter(isReady).flatMap((pod) => {
    const container = pod.spec?.containers?.find((c) => c.image === image);
    return container ? [{ name: pod.metadata?.name ?? '', namespace, port: container.ports?.find((p) => p.containerPort)?.containerPort }] : [];
  });
}

export function podProxyPath(pod: ServingPod, port: number, path: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}:${port}/proxy${path}`;
}

/** Parsed JSON when it is JSON, else the text: an answer is reported as it came. */
export function answerOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** One request to the pod, ended by timeoutMs or the cluster's signal; network failures are thrown. */
export async function callPod(cluster: Cluster, pod: ServingPod, port: number, call: PodCall, timeoutMs: number): Promise<PodReply> {
  const bounded = cluster.within(withDeadline(cluster.signal, timeoutMs, `${call.method} ${call.path} on pod '${pod.name}'`));
  const started = performance.now();
  const response = await bounded.send(call.method, podProxyPath(pod, port, call.path), call.body === undefined ? undefined : JSON.stringify(call.body));
  const text = await response.text(BODY_LIMITS.json, `the answer of pod '${pod.name}' to ${call.method} ${call.path}`);
  return { status: response.status, body: answerOf(text), elapsedMs: performance.now() - started };
}
