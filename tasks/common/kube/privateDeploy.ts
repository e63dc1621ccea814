/**
 * Deploy to a private AKS cluster through AKS run command (azure/aksRunCommand.ts): the manifests
 * (generated, or the user's with the image substituted) go as the command's context, one file,
 * manifests.yaml; the command (privateCommand.ts) applies them, waits for every workload's rollout
 * and, when one fails, undoes the ones this run changed. After the rollouts it reads the workloads
 * and Services back and asks each ready pod running the image for its model digest through the API
 * server's pod proxy (`kubectl get --raw`), all printed as report lines (privateReport.ts) from
 * which the task builds the same DeployResult as the normal path and judges the answers with the
 * same code (modelCheck.ts). A pod serving another model: a second command undoes the rollouts.
 *
 * Exit 2: the apply failed, nothing was undone; exit 1: a rollout failed and was undone. Every
 * name in the command is a DNS-1123 name, checked before the command is built.
 */
import { randomBytes } from 'node:crypto';
import { dump } from 'js-yaml';
import { INPUT_SLOT, SettingError, TaskError } from '../errors';
import { type Log, TextBlock } from '../log';
import { type RunCommandTarget, runAksCommand } from '../azure/aksRunCommand';
import { contextZip } from './contextZip';
import { type DeployRequest, type DeployResult, type WorkloadReport, imageOf, workloadDocuments } from './deploy';
import { judgeServedModel } from './modelCheck';
import { answerOf } from './podProxy';
import { type CommandPlan, type CommandWorkload, type ModelProbe, commandName, privateDeployScript, privateUndoScript } from './privateCommand';
import { type CommandReport, readReport } from './privateReport';
import { RolloutFailedError } from './rolloutFailedError';
import type { DeploymentLike } from './rolloutStatus';
import { workloadRevision } from './rolloutWatch';
import { addressNow, serviceFor } from './service';
import { withRunAnnotations } from './traceability';
import { revisionNumber } from './workloads/controllerRevision';
import { imagesOf, objectKey, templateOf, workloadList } from './workloads/workloadList';
import type { KubeObject } from './types';

export { fieldManager } from './privateCommand';
/** How much of kubectl's output a message carries: its end, where failures are. */
const maxLogChars = 4000;
const labelPart = /^[A-Za-z0-9._/-]*$/;
const imageChars = /^[A-Za-z0-9._:/@-]+$/;

export interface PrivateDeployResult extends DeployResult {
  /** What kubectl said (report lines left out), its end only. */
  readonly logs: string;
}

export interface PrivateDeployContext {
  readonly log: Log;
  readonly clusterToken?: string;
  readonly pollMs?: number;
  /** The canary strategy was asked for: it needs the API server. */
  readonly canary?: boolean;
}

/** What the run command can't do, each with why; [] when nothing. */
function unsupported(options: DeployRequest, context: PrivateDeployContext): string[] {
  return [
    ...(context.canary ? ['the canary strategy (it steers traffic step by step from the agent)'] : []),
    ...(options.goldenRequests ? ['golden requests (their bodies would have to travel in the command)'] : []),
    ...(options.smokeTest ? ['the smoke test (it is sent from the agent, which may not reach the app)'] : []),
    ...(options.prune ? ['prune (it lists and deletes earlier objects through the API server)'] : []),
    ...(options.imagePullSecret ? ['an image pull secret (the registry password would travel in the command)'] : []),
  ];
}

const tail = (text: string) => (text.length > maxLogChars ? `...${text.slice(-maxLogChars)}` : text);

export async function deployPrivate(options: DeployRequest, target: RunCommandTarget, context: PrivateDeployContext): Promise<PrivateDeployResult> {
  const refused = unsupported(options, context);
  if (refused.length > 0) throw new SettingError('privateCluster', 'DeployPrivateUnsupported', [INPUT_SLOT, refused.join(', ')]);
  const documents = withRunAnnotations(workloadDocuments(options), options.runAnnotations)
    .map((document) => ({ ...document, metadata: { ...document.metadata, namespace: document.metadata?.namespace ?? options.namespace } }));
  // As on the normal path: refused before any command is sent (no workload, OnDelete, one given twice); the same primary.
  const { indexes, primary } = workloadList(documents, options);
  const workloadDocs = indexes.map((index) => documents[index]);
  const named = workloadDocs.map((document): CommandWorkload => ({ kind: document.kind as CommandWorkload['kind'], name: document.metadata?.name ?? '', namespace: document.metadata.namespace }));
  const services = documents.filter((document) => document.kind === 'Service' && document.apiVersion === 'v1')
    .map((document) => ({ name: document.metadata?.name ?? '', namespace: document.metadata.namespace, loadBalancer: ((document as KubeObject).spec as { type?: string } | undefined)?.type === 'LoadBalancer' }));
  for (const w of [...named, ...services.map((s) => ({ ...s, kind: 'Service' }))]) {
    if (!commandName.test(w.name) || !commandName.test(w.namespace)) throw new TaskError('DeployPrivateBadName', [w.kind, `${w.namespace}/${w.name}`]);
  }
  const workloads = named.map((w, i): CommandWorkload => ({ ...w, selector: selectorOf(workloadDocs[i]) }));
  const probes = options.modelCheck ? modelProbes(options, workloadDocs, primary) : [];
  // createNamespace: the namespace is applied first, with the manifests (applying an existing one changes nothing).
  const namespaces = options.createNamespace ? [...new Set(workloads.map((w) => w.namespace))].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })) : [];
  const manifests = [...namespaces, ...documents].map((document) => dump(document, { noRefs: true, lineWidth: -1 })).join('---\n');
  const timeoutSeconds = Math.max(1, Math.round(options.rolloutTimeoutMs / 1000));
  const plan: CommandPlan = {
    marker: `@@amd-${randomBytes(8).toString('hex')}`, workloads, services, timeoutSeconds, loadBalancerSeconds: Math.max(1, Math.round(options.loadBalancerTimeoutMs / 1000)),
    ...(options.modelCheck ? { modelCheck: options.modelCheck } : {}), probes,
  };
  const started = Date.now();
  const token = context.clusterToken ? { clusterToken: context.clusterToken } : {};
  const run = (command: string, zip?: Buffer) => runAksCommand(target, { command, ...(zip ? { context: zip } : {}), ...token }, {
    log: context.log, pollMs: context.pollMs, timeoutMs: options.rolloutTimeoutMs + options.loadBalancerTimeoutMs + 10 * 60_000,
  });
  const result = await run(privateDeployScript(plan), contextZip([{ name: 'manifests.yaml', data: Buffer.from(manifests, 'utf8') }]));
  const report = readReport(result.logs, plan.marker, target.clusterName);
  const logs = tail(report.said);
  const names = workloads.map((w) => `${w.kind.toLowerCase()}/${w.name}`).join(', ');
  if (result.exitCode === 1) throw new TaskError('AksPrivateDeployFailed', [target.clusterName, names, logs]);
  if (result.exitCode !== 0) throw new TaskError('AksPrivateApplyFailed', [target.clusterName, result.exitCode, logs]);
  const applied = workloads.map((w) => readBack(report, w, target.clusterName));
  const changed = workloads.filter((_, i) => report.before.get(i) !== String(applied[i].metadata?.generation ?? ''));

  for (const probe of probes) {
    const failure = await judgeProbe(report, probe, options, context.log);
    if (!failure) continue;
    const w = workloads[probe.workload];
    if (!options.rollbackOnFailure) throw privateFailure(w, applied[probe.workload], options, failure, { rolledBack: false });
    // As on the normal path: what this run changed, and the failing workload whatever it was.
    const undo = workloads.filter((one) => one === w || changed.includes(one));
    const undone = await run(privateUndoScript(plan.marker, undo, timeoutSeconds));
    const back = readReport(undone.logs, plan.marker, target.clusterName);
    if (undone.exitCode !== 0) throw privateFailure(w, applied[probe.workload], options, failure, { rolledBack: false, rollbackError: tail(back.said) });
    const now = back.objects.find((object) => objectKey({ kind: object.kind, ...object.metadata }) === objectKey(w)) ?? applied[probe.workload];
    throw privateFailure(w, applied[probe.workload], options, failure, { rolledBack: true, previousRevision: workloadRevision(now, w.kind), previousImages: imagesOf(now as KubeObject) });
  }
  // Every probe passed (none fails without throwing): proven when the primary was among them.
  const modelVerified = probes.some((probe) => probe.workload === primary);
  const revisionOf = (w: CommandWorkload, i: number) => (w.kind === 'Deployment' ? undefined : revisionNumber(w.kind, applied[i], report.revisions.get(i) ?? [])) ?? workloadRevision(applied[i], w.kind);
  const reports = workloads.map((w, i): WorkloadReport => Object.freeze({ kind: w.kind, name: w.name, namespace: w.namespace, revision: revisionOf(w, i), images: Object.freeze(imagesOf(applied[i] as KubeObject)) }));
  return Object.freeze({
    deploymentName: workloads[primary].name, namespace: workloads[primary].namespace, revision: reports[primary].revision,
    deployedImage: imageOf(templateOf(applied[primary]), options.image), service: address(report, applied[primary], workloads[primary].kind, workloads[primary].namespace, plan, context.log), rolledBack: false,
    unchanged: changed.length === 0, modelVerified, workloads: Object.freeze(reports),
    // One command does it all: its whole time is the rollout's.
    timings: Object.freeze({ applyMs: 0, rolloutMs: Date.now() - started, proofMs: 0, serviceMs: 0 }),
    logs,
  });
}

/** The model check's targets, as on the normal path: the primary and every workload running the image. */
function modelProbes(options: DeployRequest, workloadDocs: readonly KubeObject[], primary: number): ModelProbe[] {
  if (!imageChars.test(options.image)) throw new TaskError('DeployPrivateBadValue', ['image', options.image]);
  return workloadDocs.flatMap((document, index) => {
    const containers = templateOf(document)?.spec?.containers ?? [];
    const running = containers.find((container) => container.image === options.image) as { ports?: { containerPort?: number }[] } | undefined;
    if (index !== primary && !running) return [];
    const port = running?.ports?.find((p) => Number.isInteger(p.containerPort))?.containerPort;
    return [{ workload: index, selector: selectorOf(document), image: options.image, ...(port !== undefined ? { port } : {}) }];
  });
}

/** The workload's matchLabels as a label selector, each part checked before it goes into the command. */
function selectorOf(document: KubeObject): string {
  const labels = Object.entries((document.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels ?? {});
  const selector = labels.map(([name, value]) => `${name}=${value}`).join(',');
  if (labels.some(([name, value]) => !labelPart.test(name) || !labelPart.test(String(value)))) throw new TaskError('DeployPrivateBadValue', [`selector of ${document.kind.toLowerCase()}/${document.metadata?.name ?? ''}`, selector]);
  return selector;
}

function readBack(report: CommandReport, w: CommandWorkload, clusterName: string): DeploymentLike {
  const found = report.objects.find((object) => objectKey({ kind: object.kind, ...object.metadata }) === objectKey(w));
  if (!found) throw new TaskError('AksPrivateReportInvalid', [clusterName, `${w.kind.toLowerCase()}/${w.name} was not read back after its rollout`]);
  return found as DeploymentLike;
}

/** The pods' answers judged with the normal path's code; the failure's words, or undefined. */
async function judgeProbe(report: CommandReport, probe: ModelProbe, options: DeployRequest, log: Log): Promise<string | undefined> {
  const settings = options.modelCheck!;
  if (!report.listed.has(probe.workload)) return `the pods of ${probe.selector || 'the namespace'} were not listed`;
  const records = new Map(report.pods.filter((record) => record.probe === probe.workload).map((record) => [record.pod, record]));
  const outcome = await judgeServedModel([...records.keys()], (pod) => {
    const record = records.get(pod)!;
    if (record.exitCode === undefined || probe.port === undefined) return { pod };
    return record.exitCode === 0 ? { pod, port: probe.port, status: 200, body: answerOf(record.text) } : { pod, port: probe.port, error: record.text.trim().split('\n').at(-1) || `kubectl get --raw ended with exit code ${record.exitCode}${record.exitCode === 124 ? ' (no answer in time)' : ''}` };
  }, settings, log);
  return outcome.failure;
}

function privateFailure(w: CommandWorkload, applied: DeploymentLike, options: DeployRequest, detail: string, how: { rolledBack: boolean; previousRevision?: number; previousImages?: readonly string[]; rollbackError?: string }): RolloutFailedError {
  return new RolloutFailedError({
    kind: w.kind, deployment: w.name, namespace: w.namespace, image: imagesOf(applied as KubeObject).join(', ') || options.image, reason: 'ModelCheckFailed', detail,
    revision: workloadRevision(applied, w.kind), diagnostics: new TextBlock([]), ...how,
  });
}

/** The Service selecting the primary's pods, as read back; a LoadBalancer without an address fails as on the normal path. */
function address(report: CommandReport, primary: DeploymentLike, kind: string, namespace: string, plan: CommandPlan, log: Log): DeployResult['service'] {
  const labels = templateOf(primary)?.metadata?.labels ?? {};
  const service = serviceFor(report.objects, namespace, labels);
  if (!service) {
    log.info('DeployNoService', kind.toLowerCase(), primary.metadata?.name ?? '');
    return undefined;
  }
  const found = addressNow(service as never, log);
  const name = service.metadata?.name ?? '';
  if (!found) throw new TaskError('DeployServiceNoAddress', [name, namespace, plan.loadBalancerSeconds, name, namespace, '(not read: the cluster is reached only through AKS run command)']);
  return found;
}
