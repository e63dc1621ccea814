/**
 * pods/log: the simulated containers print nothing of their own, so the log says what the kubelet
 * knows — enough for `kubectl logs` (and a deploy task's diagnostics) to get the answers and errors a
 * real node gives: text for running or crashed containers, 400 for containers still waiting.
 */
import type * as http from 'node:http';
import { ApiError, errors } from './errors';
import type { PodNetwork } from './podNetwork';
import type { ContainerStatus, Pod } from './types';
import { isMap } from './types';

function waitingReason(status: ContainerStatus | undefined): string | undefined {
  const waiting = status?.state.waiting;
  return isMap(waiting) && typeof waiting.reason === 'string' ? waiting.reason : undefined;
}

export function podLog(pod: Pod, params: URLSearchParams, pods?: PodNetwork): string {
  const containers = pod.spec.containers.map((c) => c.name);
  const wanted = params.get('container') ?? (containers.length === 1 ? containers[0] : undefined);
  if (!wanted) {
    throw errors.badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${containers.join(' ')}]`);
  }
  const container = pod.spec.containers.find((c) => c.name === wanted);
  if (!container) throw errors.badRequest(`container ${wanted} is not valid for pod ${pod.metadata.name}`);
  const status = pod.status?.containerStatuses?.find((s) => s.name === wanted);
  const previous = params.get('previous') === 'true';
  const real = pods?.logs?.(pod, wanted, previous);
  if (real !== undefined) return tailOf(real, params.get('tailLines'));
  if (previous) {
    if (!isMap(status?.lastState.terminated)) throw errors.badRequest(`previous terminated container "${wanted}" in pod "${pod.metadata.name}" not found`);
    return `starting ${container.image}\nloading model\nError: the application exited with code 1 (simulated crash)\n`;
  }
  const waiting = waitingReason(status);
  if (!status || (waiting && waiting !== 'CrashLoopBackOff')) {
    const why = waiting === 'ImagePullBackOff' || waiting === 'ErrImagePull' ? 'trying and failing to pull image' : (waiting ?? 'ContainerCreating');
    throw new ApiError(400, 'BadRequest', `container "${wanted}" in pod "${pod.metadata.name}" is waiting to start: ${why}`);
  }
  const lines = [`starting ${container.image}`, 'loading model', ...(waiting ? ['Error: the application exited with code 1 (simulated crash)'] : ['serving on :8080'])];
  return tailOf(`${lines.join('\n')}\n`, params.get('tailLines'));
}

function tailOf(text: string, tail: string | null): string {
  if (!tail) return text;
  const lines = text.replace(/\n$/, '').split('\n');
  return `${lines.slice(-Number(tail)).join('\n')}\n`;
}

export function sendLog(res: http.ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) }).end(text);
}
