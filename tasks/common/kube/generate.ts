/**
 * The Deployment and Service generated when the user gives no manifests. Pure: a validated spec in,
 * plain apps/v1 and v1 objects out, ready for server-side apply.
 */
import { annotationsFor, type ModelAnnotations, templateAnnotationsFor } from './types';
import {
  azureDnsLabelProblem, dns1123LabelProblem, dns1123SubdomainProblem, envNamesProblem, httpPathProblem, imageProblem,
  MAX_REPLICAS, type SettingProblem, settingFailure, type ValueProblem, wholeNumberProblem,
} from './validate';

export type ServiceType = 'LoadBalancer' | 'ClusterIP' | 'NodePort';
export const SERVICE_TYPES: readonly ServiceType[] = Object.freeze(['LoadBalancer', 'ClusterIP', 'NodePort']);

export interface ResourceAmounts {
  readonly cpu: string;
  readonly memory: string;
}

export interface AppSpec {
  readonly appName: string;
  readonly namespace: string;
  readonly image: string;
  readonly replicas: number;
  readonly containerPort: number;
  readonly servicePort: number;
  readonly serviceType: ServiceType;
  readonly dnsLabel?: string;
  readonly readinessPath: string;
  readonly env: Readonly<Record<string, string>>;
  readonly imagePullSecret?: string;
  readonly annotations: ModelAnnotations;
  /** Defaults to DEFAULT_PROGRESS_DEADLINE_SECONDS. */
  readonly progressDeadlineSeconds?: number;
  readonly requests?: ResourceAmounts;
  readonly limits?: ResourceAmounts;
}

export interface GeneratedManifests {
  readonly deployment: Record<string, unknown>;
  readonly service: Record<string, unknown>;
}

export const NAME_LABEL = 'app.kubernetes.io/name';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGER = 'ai-model-delivery-tasks';
export const DNS_LABEL_ANNOTATION = 'service.beta.kubernetes.io/azure-dns-label-name';
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 300;
/** Kept so `rollout undo` and the task's own rollback have earlier ReplicaSets to go back to. */
export const REVISION_HISTORY_LIMIT = 5;
export const DEFAULT_REQUESTS: ResourceAmounts = Object.freeze({ cpu: '100m', memory: '256Mi' });
/** No CPU limit by default would risk noisy neighbours; 1 core and 1Gi leave room for model loading. */
export const DEFAULT_LIMITS: ResourceAmounts = Object.freeze({ cpu: '1', memory: '1Gi' });

/** A field of the spec is the setting a problem names. */
export type AppSpecProblem = SettingProblem<keyof AppSpec>;

function serviceTypeProblem(serviceType: ServiceType): ValueProblem | undefined {
  return SERVICE_TYPES.includes(serviceType) ? undefined : { key: 'InputNotInList', args: [serviceType, SERVICE_TYPES.join(', ')] };
}

/** Azure names the load balancer's public IP after the label: only a LoadBalancer Service has one. */
function dnsLabelProblem(spec: AppSpec): ValueProblem | undefined {
  if (!spec.dnsLabel) return undefined;
  const problem = azureDnsLabelProblem(spec.dnsLabel);
  if (problem || spec.serviceType === 'LoadBalancer') return problem;
  return { key: 'InputInvalid', args: [spec.dnsLabel, `a DNS label needs serviceType LoadBalancer, not ${spec.serviceType}. Clear dnsLabel or set serviceType to LoadBalancer.`] };
}

/** The first unusable value of the spec, in the order the fields are listed, and what is accepted. Pure. */
export function appSpecProblem(spec: AppSpec): AppSpecProblem | undefined {
  const checks: [keyof AppSpec, () => ValueProblem | undefined][] = [
    ['appName', () => dns1123LabelProblem(spec.appName)],
    ['namespace', () => dns1123LabelProblem(spec.namespace)],
    ['image', () => imageProblem(spec.image)],
    ['replicas', () => wholeNumberProblem(spec.replicas, 0, MAX_REPLICAS)],
    ['containerPort', () => wholeNumberProblem(spec.containerPort, 1, 65535)],
    ['servicePort', () => wholeNumberProblem(spec.servicePort, 1, 65535)],
    ['serviceType', () => serviceTypeProblem(spec.serviceType)],
    ['dnsLabel', () => dnsLabelProblem(spec)],
    ['readinessPath', () => httpPathProblem(spec.readinessPath)],
    ['env', () => envNamesProblem(spec.env)],
    ['imagePullSecret', () => (spec.imagePullSecret ? dns1123SubdomainProblem(spec.imagePullSecret) : undefined)],
    ['progressDeadlineSeconds', () => (spec.progressDeadlineSeconds === undefined ? undefined : wholeNumberProblem(spec.progressDeadlineSeconds, 5, 86400))],
  ];
  for (const [setting, check] of checks) {
    const problem = check();
    if (problem) return { setting, ...problem };
  }
  return undefined;
}

/** Validates the spec, then builds both objects. Nothing in the spec is modified. */
export function generateManifests(spec: AppSpec): GeneratedManifests {
  const problem = appSpecProblem(spec);
  if (problem) throw settingFailure(problem);
  return { deployment: deploymentFor(spec), service: serviceFor(spec) };
}

function metadataFor(spec: AppSpec, annotations: Record<string, string>): Record<string, unknown> {
  return {
    name: spec.appName,
    namespace: spec.namespace,
    labels: { [NAME_LABEL]: spec.appName, [MANAGED_BY_LABEL]: MANAGER },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

function deploymentFor(spec: AppSpec): Record<string, unknown> {
  const annotations = annotationsFor(spec.annotations);
  const templateAnnotations = templateAnnotationsFor(spec.annotations);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadataFor(spec, annotations),
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: { [NAME_LABEL]: spec.appName } },
      // maxUnavailable 0: old pods serve until new ones are ready, so a broken image never takes the app down.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
      progressDeadlineSeconds: spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS,
      revisionHistoryLimit: REVISION_HISTORY_LIMIT,
      template: {
        metadata: {
          labels: { [NAME_LABEL]: spec.appName },
          ...(Object.keys(templateAnnotations).length > 0 ? { annotations: templateAnnotations } : {}),
        },
        spec: podSpecFor(spec),
      },
    },
  };
}

function podSpecFor(spec: AppSpec): Record<string, unknown> {
  return {
    containers: [containerFor(spec)],
    ...(spec.imagePullSecret ? { imagePullSecrets: [{ name: spec.imagePullSecret }] } : {}),
  };
}

function containerFor(spec: AppSpec): Record<string, unknown> {
  // Sorted so the same inputs always give the same template and re-applying is a no-op.
  const env = Object.keys(spec.env).sort().map((name) => ({ name, value: spec.env[name] }));
  return {
    name: spec.appName,
    image: spec.image,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ name: 'http', containerPort: spec.containerPort, protocol: 'TCP' }],
    ...(env.length > 0 ? { env } : {}),
    readinessProbe: {
      httpGet: { path: spec.readinessPath, port: spec.containerPort, scheme: 'HTTP' },
      initialDelaySeconds: 2,
      periodSeconds: 5,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    resources: {
      requests: { ...(spec.requests ?? DEFAULT_REQUESTS) },
      limits: { ...(spec.limits ?? DEFAULT_LIMITS) },
    },
  };
}

function serviceFor(spec: AppSpec): Record<string, unknown> {
  const annotations: Record<string, string> = spec.dnsLabel ? { [DNS_LABEL_ANNOTATION]: spec.dnsLabel } : {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadataFor(spec, annotations),
    spec: {
      type: spec.serviceType,
      selector: { [NAME_LABEL]: spec.appName },
      ports: [{ name: 'http', port: spec.servicePort, targetPort: spec.containerPort, protocol: 'TCP' }],
    },
  };
}
