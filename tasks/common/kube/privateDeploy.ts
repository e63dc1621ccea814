/**
 * Deploy to a private AKS cluster through AKS run command (azure/aksRunCommand.ts): the manifests
 * (generated, or the user's with the image substituted) go as the command's context, one file,
 * manifests.yaml; the command applies them, waits for every workload's rollout and, when one fails,
 * undoes them all:
 *
 *   kubectl apply --server-side --force-conflicts --field-manager=ai-model-delivery-tasks -f manifests.yaml || exit 2
 *   if ! { kubectl rollout status <kind>/<name> -n <ns> --timeout=<s>s && ...; }; then
 *     kubectl rollout undo <kind>/<name> -n <ns>; ...; exit 1
 *   fi
 *
 * Exit 2: the apply failed, nothing was undone; exit 1: a rollout failed and was undone (rollout undo
 * takes Deployments, StatefulSets and DaemonSets back to their previous revision). Every name in the
 * command is a DNS-1123 name, checked before the command is built, so nothing the manifests hold can
 * reach the shell otherwise.
 */
import { dump } from 'js-yaml';
import { INPUT_SLOT, SettingError, TaskError } from '../errors';
import type { Log } from '../log';
import { type RunCommandTarget, runAksCommand } from '../azure/aksRunCommand';
import { contextZip } from './contextZip';
import { type DeployRequest, isWorkload, workloadDocuments } from './deploy';
import { withRunAnnotations } from './traceability';

export const fieldManager = 'ai-model-delivery-tasks';
/** How much of kubectl's output a message carries: its end, where failures are. */
const maxLogChars = 4000;
const dns1123 = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface PrivateDeployResult {
  readonly namespace: string;
  /** kind/name of every workload applied and watched. */
  readonly workloads: readonly string[];
  readonly exitCode: number;
  readonly logs: string;
}

export interface PrivateDeployContext {
  readonly log: Log;
  readonly clusterToken?: string;
  readonly pollMs?: number;
  /** The canary strategy was asked for: it needs the API server. */
  readonly canary?: boolean;
}

/** What needs the API server itself, so a private cluster can't have it; [] when nothing. */
function unsupported(options: DeployRequest, context: PrivateDeployContext): string[] {
  return [
    ...(context.canary ? ['the canary strategy'] : []),
    ...(options.modelCheck ? ['the model check'] : []),
    ...(options.goldenRequests ? ['golden requests'] : []),
    ...(options.smokeTest ? ['the smoke test'] : []),
    ...(options.prune ? ['prune'] : []),
    ...(options.imagePullSecret ? ['an image pull secret'] : []),
  ];
}

/** The shell command applied in the cluster; exported for tests and the docs. */
export function privateDeployCommand(workloads: readonly { kind: string; name: string; namespace: string }[], timeoutSeconds: number): string {
  const ref = (w: { kind: string; name: string; namespace: string }) => `${w.kind.toLowerCase()}/${w.name} -n ${w.namespace}`;
  const status = workloads.map((w) => `kubectl rollout status ${ref(w)} --timeout=${timeoutSeconds}s`).join(' && ');
  const undo = workloads.map((w) => `kubectl rollout undo ${ref(w)};`).join(' ');
  return `kubectl apply --server-side --force-conflicts --field-manager=${fieldManager} -f manifests.yaml || exit 2; if ! { ${status}; }; then ${undo} exit 1; fi`;
}

export async function deployPrivate(options: DeployRequest, target: RunCommandTarget, context: PrivateDeployContext): Promise<PrivateDeployResult> {
  const refused = unsupported(options, context);
  if (refused.length > 0) throw new SettingError('privateCluster', 'DeployPrivateUnsupported', [INPUT_SLOT, refused.join(', ')]);
  const documents = withRunAnnotations(workloadDocuments(options), options.runAnnotations)
    .map((document) => ({ ...document, metadata: { ...document.metadata, namespace: document.metadata?.namespace ?? options.namespace } }));
  const workloads = documents.filter(isWorkload).map((document) => ({ kind: document.kind, name: document.metadata?.name ?? '', namespace: document.metadata.namespace }));
  if (workloads.length === 0) throw new TaskError('DeployNoDeployment', [documents.map((document) => `${document.kind} '${document.metadata?.name ?? '(unnamed)'}'`).join(', ') || 'nothing']);
  for (const w of workloads) {
    if (!dns1123.test(w.name) || !dns1123.test(w.namespace)) throw new TaskError('DeployPrivateBadName', [w.kind, `${w.namespace}/${w.name}`]);
  }
  // createNamespace: the namespace is applied first, with the manifests (applying an existing one changes nothing).
  const namespaces = options.createNamespace ? [...new Set(workloads.map((w) => w.namespace))].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })) : [];
  const manifests = [...namespaces, ...documents].map((document) => dump(document, { noRefs: true, lineWidth: -1 })).join('---\n');
  const timeoutSeconds = Math.max(1, Math.round(options.rolloutTimeoutMs / 1000));
  const result = await runAksCommand(target, {
    command: privateDeployCommand(workloads, timeoutSeconds),
    context: contextZip([{ name: 'manifests.yaml', data: Buffer.from(manifests, 'utf8') }]),
    ...(context.clusterToken ? { clusterToken: context.clusterToken } : {}),
  }, { log: context.log, pollMs: context.pollMs, timeoutMs: options.rolloutTimeoutMs + 10 * 60_000 });
  const logs = result.logs.length > maxLogChars ? `...${result.logs.slice(-maxLogChars)}` : result.logs;
  const names = workloads.map((w) => `${w.kind.toLowerCase()}/${w.name}`).join(', ');
  if (result.exitCode === 1) throw new TaskError('AksPrivateDeployFailed', [target.clusterName, names, logs]);
  if (result.exitCode !== 0) throw new TaskError('AksPrivateApplyFailed', [target.clusterName, result.exitCode, logs]);
  return { namespace: options.namespace, workloads: workloads.map((w) => `${w.kind}/${w.name}`), exitCode: 0, logs };
}
