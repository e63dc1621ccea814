/**
 * The shell scripts the private path (privateDeploy.ts) runs in the cluster through AKS run command.
 * Every value the manifests or inputs give reaches the script single-quoted (shellQuote), and names
 * are DNS-1123 names checked before the script is built, so nothing can break out of its words.
 *
 * What the task needs back comes as report lines, `<marker> <what> <fields...>`, peer data in
 * base64 so nothing it holds can pass for another line; the marker is fresh per run, so kubectl's
 * own output can't either (privateReport.ts reads them).
 */
import type { ModelCheckSettings } from './modelCheck';
import type { WorkloadKind } from './rolloutWatch';

export const fieldManager = 'ai-model-delivery-tasks';
/** The names that reach a command unquoted (workloads, Services, namespaces, pods): DNS-1123 names. */
export const commandName = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface CommandWorkload {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly namespace: string;
  /** matchLabels as a label selector: a StatefulSet's or DaemonSet's ControllerRevisions are listed by it. */
  readonly selector?: string;
}

/** The model check on one workload's ready pods. */
export interface ModelProbe {
  /** Its index in the plan's workloads. */
  readonly workload: number;
  /** The workload's matchLabels as a label selector; '' selects every pod of the namespace. */
  readonly selector: string;
  /** Only pods running this image are asked, as on the normal path. */
  readonly image: string;
  /** The container's first declared port; undefined: the pods are listed but can't be asked. */
  readonly port?: number;
}

export interface CommandPlan {
  readonly marker: string;
  readonly workloads: readonly CommandWorkload[];
  /** Services read back for the address; a LoadBalancer is waited for first. */
  readonly services: readonly { readonly name: string; readonly namespace: string; readonly loadBalancer: boolean }[];
  readonly timeoutSeconds: number;
  readonly loadBalancerSeconds: number;
  readonly modelCheck?: ModelCheckSettings;
  readonly probes: readonly ModelProbe[];
}

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const ref = (w: CommandWorkload) => `${w.kind.toLowerCase()}/${w.name} -n ${w.namespace}`;
const generation = (w: CommandWorkload) => `$(kubectl get ${ref(w)} -o jsonpath='{.metadata.generation}' 2>/dev/null)`;

/** Ready pods, not terminating, with a container running the image: what the normal path's servingPods picks. */
function readyPodsTemplate(image: string): string {
  return '{{range .items}}{{if not .metadata.deletionTimestamp}}{{$ready := false}}{{range .status.conditions}}{{if and (eq .type "Ready") (eq .status "True")}}{{$ready = true}}{{end}}{{end}}'
    + `{{$runs := false}}{{range .spec.containers}}{{if eq .image ${JSON.stringify(image)}}}{{$runs = true}}{{end}}{{end}}{{if and $ready $runs}}{{.metadata.name}}{{"\\n"}}{{end}}{{end}}{{end}}`;
}

/** One report line of an object read back as JSON. */
const objectLine = (marker: string, what: string) => `echo "${marker} object $(kubectl get ${what} -o json | base64 -w0)"`;

function probeLines(plan: CommandPlan, check: ModelCheckSettings): string[] {
  // timeout(1), not --request-timeout: kubectl would add ?timeout= to the path the pod receives.
  const seconds = Math.max(1, Math.round((check.timeoutMs ?? 10_000) / 1000));
  return plan.probes.map((probe) => {
    const { namespace } = plan.workloads[probe.workload];
    const list = `kubectl get pods -n ${namespace}${probe.selector ? ` -l ${shellQuote(probe.selector)}` : ''} -o go-template=${shellQuote(readyPodsTemplate(probe.image))}`;
    const ask = probe.port === undefined
      ? `echo "${plan.marker} pod ${probe.workload} $pod - -"`
      : `out=$(timeout ${seconds} kubectl get --raw ${shellQuote(`/api/v1/namespaces/${namespace}/pods/`)}"$pod"${shellQuote(`:${probe.port}/proxy${check.path}`)} 2>&1); code=$?; echo "${plan.marker} pod ${probe.workload} $pod $code $(printf '%s' "$out" | base64 -w0)"`;
    return `echo "${plan.marker} listed ${probe.workload}"; for pod in $(${list}); do ${ask}; done`;
  });
}

/**
 * Apply, then every rollout; a failed one undoes every workload this run changed (its generation
 * moved) and exits 1; a failed apply exits 2, nothing undone. After the rollouts: the workloads and
 * Services read back, then the model check's answers, each as report lines.
 */
export function privateDeployScript(plan: CommandPlan): string {
  const { marker, workloads } = plan;
  const before = workloads.map((w, i) => `b${i}=${generation(w)}`);
  const status = workloads.map((w) => `kubectl rollout status ${ref(w)} --timeout=${plan.timeoutSeconds}s`).join(' && ');
  const undo = workloads.map((w, i) => `if [ "${generation(w)}" != "$b${i}" ]; then kubectl rollout undo ${ref(w)}; fi;`).join(' ');
  const report = [
    ...workloads.map((_, i) => `echo "${marker} before ${i} $b${i}"`),
    ...workloads.map((w) => objectLine(marker, ref(w))),
    // kubectl rollout history's numbers for StatefulSets and DaemonSets.
    ...workloads.flatMap((w, i) => (w.kind === 'Deployment' ? [] : [`echo "${marker} revisions ${i} $(kubectl get controllerrevisions -n ${w.namespace}${w.selector ? ` -l ${shellQuote(w.selector)}` : ''} -o json | base64 -w0)"`])),
    ...plan.services.filter((s) => s.loadBalancer).map((s) => `kubectl wait --for=jsonpath='{.status.loadBalancer.ingress}' service/${s.name} -n ${s.namespace} --timeout=${plan.loadBalancerSeconds}s >/dev/null 2>&1`),
    ...plan.services.map((s) => objectLine(marker, `service/${s.name} -n ${s.namespace}`)),
    ...(plan.modelCheck ? probeLines(plan, plan.modelCheck) : []),
  ];
  return [
    ...before,
    `kubectl apply --server-side --force-conflicts --field-manager=${fieldManager} -f manifests.yaml || exit 2`,
    `if ! { ${status}; }; then ${undo} exit 1; fi`,
    ...report,
  ].join('\n');
}

/** The second command, when the pods did not prove the model: the changed workloads undone and watched back, then read back. */
export function privateUndoScript(marker: string, workloads: readonly CommandWorkload[], timeoutSeconds: number): string {
  return [
    ...workloads.map((w) => `kubectl rollout undo ${ref(w)} && kubectl rollout status ${ref(w)} --timeout=${timeoutSeconds}s || failed=1`),
    ...workloads.map((w) => objectLine(marker, ref(w))),
    'exit ${failed:-0}',
  ].join('\n');
}
