/**
 * AKS run command (api-version 2023-08-01), what `az aks command invoke` does: a private cluster's
 * API server has no public endpoint, so the command runs inside the cluster and only ARM is reached.
 *
 *   POST .../managedClusters/{name}/runCommand  { command, context: base64 zip, clusterToken? }
 *        -> 202 + Location (.../commandResults/{id}), or 200 with the finished result
 *   GET  .../managedClusters/{name}/commandResults/{id}
 *        -> 202 while it runs (Retry-After honoured), 200 { properties: { provisioningState, exitCode, logs, reason } }
 *
 * Requests go through armClient (the network layer, ARM's token, redirects kept on ARM's origin);
 * a Location on another host is refused, so the token never follows it.
 */
import { createPipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { RemoteError } from '../errors';
import type { Log } from '../log';
import { sameOrigin } from '../net/origin';
import { parseRetryAfter, pause } from '../net/retry';
import { type ArmTarget, armClient, armError } from './arm';

export const runCommandApiVersion = '2023-08-01';

export interface RunCommandTarget extends ArmTarget {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly clusterName: string;
}

export interface RunCommandRequest {
  /** A shell command line, run in a pod with kubectl and the context's files in its working folder. */
  readonly command: string;
  /** The zip of the files the command reads (the manifests). */
  readonly context?: Buffer;
  /** An Entra token for the AKS server application; AKS uses its own when omitted. */
  readonly clusterToken?: string;
}

export interface RunCommandOptions {
  readonly log: Log;
  /** The pause between polls when the server names none; default 5 s. */
  readonly pollMs?: number;
  /** The longest pause a Retry-After may ask for; default 60 s. */
  readonly maxPauseMs?: number;
  /** How long to wait for the command in all; default 30 minutes. */
  readonly timeoutMs?: number;
}

export interface RunCommandResult {
  readonly provisioningState: string;
  readonly exitCode: number;
  readonly logs: string;
  readonly reason: string;
}

interface RunCommandBody {
  id?: string;
  properties?: { provisioningState?: string; exitCode?: number; logs?: string; reason?: string };
}

const finalStates = new Set(['succeeded', 'failed', 'canceled']);

/** Runs `request.command` in the cluster and waits for it; a command that ran returns its exit code, whatever it is. */
export async function runAksCommand(target: RunCommandTarget, request: RunCommandRequest, options: RunCommandOptions): Promise<RunCommandResult> {
  const client = armClient(target);
  const signal = target.transport.signal;
  const cluster = `${target.armUrl}subscriptions/${encodeURIComponent(target.subscriptionId)}/resourceGroups/${encodeURIComponent(target.resourceGroup)}/providers/Microsoft.ContainerService/managedClusters/${encodeURIComponent(target.clusterName)}`;
  const send = async (method: 'GET' | 'POST', url: string, body?: object): Promise<PipelineResponse> => {
    const http = createPipelineRequest({ url, method, abortSignal: signal });
    http.headers.set('Accept', 'application/json');
    if (body) {
      http.headers.set('Content-Type', 'application/json');
      http.body = JSON.stringify(body);
    }
    const response = await client.pipeline.sendRequest(client.httpClient, http);
    if (response.status !== 200 && response.status !== 202) {
      const { code, message } = armError(response);
      throw new RemoteError('AksRunCommandFailed', [target.clusterName, `HTTP ${response.status} ${message ? `${code}: ${message}` : code}`]);
    }
    return response;
  };
  const body = {
    command: request.command,
    ...(request.context ? { context: request.context.toString('base64') } : {}),
    ...(request.clusterToken ? { clusterToken: request.clusterToken } : {}),
  };
  let response = await send('POST', `${cluster}/runCommand?api-version=${runCommandApiVersion}`, body);
  let pollUrl = response.status === 202 ? locationOf(target, response) : undefined;
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  let lastState = '';
  for (;;) {
    const result = response.status === 200 ? parse(target, response) : undefined;
    const state = result?.properties?.provisioningState ?? 'Running';
    if (state !== lastState) options.log.info('AksRunCommandState', target.clusterName, state);
    lastState = state;
    if (result && finalStates.has(state.toLowerCase())) {
      const props = result.properties ?? {};
      if (state.toLowerCase() !== 'succeeded' && typeof props.exitCode !== 'number') {
        throw new RemoteError('AksRunCommandFailed', [target.clusterName, `${state}: ${props.reason ?? ''}`.trim()]);
      }
      return { provisioningState: state, exitCode: props.exitCode ?? 0, logs: props.logs ?? '', reason: props.reason ?? '' };
    }
    if (!pollUrl && result?.id) pollUrl = `${cluster}/commandResults/${encodeURIComponent(result.id)}?api-version=${runCommandApiVersion}`;
    if (!pollUrl) throw new RemoteError('AksRunCommandFailed', [target.clusterName, 'the answer names no command result to wait for']);
    if (Date.now() > deadline) throw new RemoteError('AksRunCommandFailed', [target.clusterName, `no result after ${Math.round((options.timeoutMs ?? 30 * 60_000) / 1000)} s`]);
    const asked = parseRetryAfter(response.headers.get('retry-after') ?? undefined);
    await pause(Math.min(asked ?? options.pollMs ?? 5000, options.maxPauseMs ?? 60_000), signal);
    response = await send('GET', pollUrl);
    if (response.status === 202) pollUrl = locationOf(target, response) ?? pollUrl;
  }
}

function locationOf(target: RunCommandTarget, response: PipelineResponse): string | undefined {
  const location = response.headers.get('location');
  if (!location) return undefined;
  const url = new URL(location, target.armUrl);
  if (!sameOrigin(url, new URL(target.armUrl))) throw new RemoteError('AksRunCommandFailed', [target.clusterName, 'the command result is on another host']);
  return url.href;
}

function parse(target: RunCommandTarget, response: PipelineResponse): RunCommandBody {
  try {
    return JSON.parse(response.bodyAsText ?? '') as RunCommandBody;
  } catch {
    throw new RemoteError('AksRunCommandFailed', [target.clusterName, 'the answer is not JSON']);
  }
}
