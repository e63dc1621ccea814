/**
 * Child-process script: reads the Deploy task's cluster inputs through a fake agent and resolves
 * them into a kubeconfig exactly as the task does (readClusterAccess -> resolveKubeconfig), then
 * prints one JSON line. A child because Node trusts the stand-ins' test CA only through
 * NODE_EXTRA_CA_CERTS at start-up. The line holds the kubeconfig (the test uses it against the
 * cluster) and everything the agent was told, so the test can check what was registered and logged.
 *
 * runAksProbe (below) starts it; the script itself runs only when AKS_PROBE is set.
 */
import { resolveKubeconfig } from '../../tasks/common/azure/clusterAccess';
import { connectCluster } from '../../tasks/common/kube/cluster';
import { SettingError, TaskError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { Network } from '../../tasks/common/net/network';
import { retryPolicy } from '../../tasks/common/net/retry';
import { deploySettings } from '../../tasks/common/pipeline/deployInputs';
import { agentNetworkSettings } from '../../tasks/common/pipeline/network';
import { connectionTypeOf, readClusterAccess } from '../../tasks/common/pipeline/kubeConnection';
import { type SettingInputs, asInputError } from '../../tasks/common/pipeline/settings';
import { fakeAgent } from './fakeAgent';
import type { EndpointSpec } from './fakeAzureEndpoint';
import { runProbeProcess } from './probeProcess';

export interface AksProbeRequest {
  readonly inputs: Record<string, string>;
  readonly endpoints: Record<string, Omit<EndpointSpec, 'id'>>;
  readonly variables?: Record<string, string>;
  readonly retryDelayInMs?: number;
  /** Then connects to the cluster with the kubeconfig, as the task does next (no request is sent). */
  readonly connect?: boolean;
}

export interface AksProbeResult {
  readonly ok: boolean;
  readonly kubeconfig?: string;
  readonly describe?: string;
  readonly secrets?: readonly string[];
  readonly expiresOn?: string;
  /** The failure as the task reports it; `setting` is what the core named, before the task named its input. */
  readonly error?: { readonly name: string; readonly key?: string; readonly setting?: string; readonly input?: string; readonly message: string };
  /** What the fake agent recorded: setSecret calls and log lines. */
  readonly registered: readonly string[];
  readonly lines: readonly string[];
}

async function probe(request: AksProbeRequest): Promise<AksProbeResult> {
  const agent = fakeAgent(request.inputs, { variables: request.variables, endpoints: request.endpoints });
  // As the task does: reading names its inputs itself, and the core's failures are named by the table.
  let settings: SettingInputs = {};
  try {
    const access = readClusterAccess(agent);
    settings = deploySettings(connectionTypeOf(access));
    // The network as a task builds it from this process's environment: any HTTPS_PROXY a test sets applies.
    const network = new Network(agentNetworkSettings({ proxy: null, cert: null, env: process.env }, agent.setSecret));
    const resolved = await resolveKubeconfig(access, { setSecret: agent.setSecret, log: agent.log, network, retry: retryPolicy({ baseDelayMs: request.retryDelayInMs ?? 20 }) }).finally(() => network.close());
    if (request.connect) connectCluster(resolved, { network }).close();
    return {
      ok: true, kubeconfig: resolved.kubeconfig, describe: resolved.describe, secrets: resolved.secrets,
      expiresOn: resolved.expiresOn?.toISOString(), registered: agent.secrets, lines: agent.lines,
    };
  } catch (failure) {
    const error = asInputError(failure, settings);
    const e = error as Error;
    const detail = {
      name: e?.name ?? typeof error, key: error instanceof TaskError ? error.key : undefined, setting: failure instanceof SettingError ? failure.setting : undefined,
      input: error instanceof InputError ? error.input : undefined, message: String(e?.message ?? error),
    };
    return { ok: false, error: detail, registered: agent.secrets, lines: agent.lines };
  }
}

export interface AksProbeRun {
  readonly result: AksProbeResult;
  /** stderr: nothing may be printed there, secrets least of all. */
  readonly stderr: string;
}

export async function runAksProbe(request: AksProbeRequest, env: Readonly<Record<string, string>>): Promise<AksProbeRun> {
  const { result, stderr } = await runProbeProcess<AksProbeResult>(__filename, { ...env, AKS_PROBE: JSON.stringify(request) });
  return { result, stderr };
}

if (process.env.AKS_PROBE) {
  void probe(JSON.parse(process.env.AKS_PROBE) as AksProbeRequest).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`));
}
