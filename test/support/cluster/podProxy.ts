/**
 * The API server's pod proxy, `/api/v1/namespaces/{ns}/pods/{pod}[:{port}]/proxy{path}`: the request
 * goes to the pod's port with the rest of the path, through the PodNetwork, whichever kubelet runs
 * the pod. As on a real server: 404 for a pod that does not exist, 503 for one not running yet.
 */
import type * as http from 'node:http';
import { R } from './context';
import { ApiError, errors } from './errors';
import type { ObjectApi } from './objectApi';
import type { PodNetwork } from './podNetwork';
import type { Pod } from './types';

export interface PodProxyTarget {
  readonly namespace: string;
  readonly pod: string;
  /** A number or a port name; undefined uses the first declared port. */
  readonly port?: string;
  /** The path the pod receives, with the query. */
  readonly path: string;
}

const PROXY_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/proxy(\/.*)?$/;

export function podProxyTarget(url: URL): PodProxyTarget | undefined {
  const match = PROXY_PATH.exec(url.pathname);
  if (!match) return undefined;
  const [pod, port] = decodeURIComponent(match[2]).split(':');
  return { namespace: decodeURIComponent(match[1]), pod, port: port || undefined, path: `${match[3] ?? '/'}${url.search}` };
}

export async function servePodProxy(api: ObjectApi, pods: PodNetwork, target: PodProxyTarget, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const pod = api.tryGet(R.pod, target.namespace, target.pod) as Pod | undefined;
  if (!pod) throw errors.notFound(R.pod, target.pod);
  const declared = pod.spec.containers.flatMap((c) => c.ports ?? []);
  const port = target.port === undefined ? declared[0]?.containerPort ?? 80 : /^\d+$/.test(target.port) ? Number(target.port) : target.port;
  const numeric = typeof port === 'number' ? port : declared.find((p) => p.name === port)?.containerPort;
  const ip = pod.status?.podIP;
  if (numeric === undefined) throw new ApiError(503, 'ServiceUnavailable', `no such port name "${port}" in pod ${target.pod}`);
  if (!ip || pod.status?.phase !== 'Running') {
    throw new ApiError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${ip ?? '<nil>'}:${numeric}: connect: connection refused`);
  }
  await pods.forward(pod, numeric, target.path, req, res);
}
