/**
 * What the API server does to an object on its way in, per kind: defaults (so objects look like the
 * ones a real cluster returns and templates compare equal), allocations (cluster IPs, node ports),
 * status kept apart from spec, generation bumps, and the validation kubectl users meet most often.
 */
import type { StatusCause } from './errors';
import type { ResourceType } from './resources';
import type { Container, KubeObject, Service } from './types';
import { clone, deepEqual, isMap } from './types';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const WITH_GENERATION = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']);

function imagePullPolicy(image: string): string {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  return !lastSegment.includes(':') || lastSegment.endsWith(':latest') ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: Container): void {
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (typeof c.image === 'string') c.imagePullPolicy ??= imagePullPolicy(c.image);
  c.resources ??= {};
  for (const port of c.ports ?? []) port.protocol ??= 'TCP';
  for (const env of c.env ?? []) {
    if (env.valueFrom?.fieldRef) (env.valueFrom.fieldRef as Record<string, unknown>).apiVersion ??= 'v1';
  }
}

export function defaultPodSpec(spec: unknown): void {
  if (!isMap(spec)) return;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const list of ['containers', 'initContainers']) {
    const containers = spec[list];
    if (Array.isArray(containers)) for (const c of containers) if (isMap(c)) defaultContainer(c as Container);
  }
}

function defaultDeployment(spec: Record<string, unknown>): void {
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  const strategy = (spec.strategy ??= {}) as Record<string, unknown>;
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const rolling = (strategy.rollingUpdate ??= {}) as Record<string, unknown>;
    rolling.maxUnavailable ??= '25%';
    rolling.maxSurge ??= '25%';
  }
  if (isMap(spec.template)) defaultPodSpec(spec.template.spec);
}

export interface Allocations {
  clusterIp(): string;
  nodePort(): number;
}

function defaultService(service: Service, old: Service | undefined, allocate: Allocations): void {
  const spec = service.spec;
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  spec.internalTrafficPolicy ??= 'Cluster';
  for (const port of spec.ports ?? []) {
    port.protocol ??= 'TCP';
    port.targetPort ??= port.port;
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
      port.nodePort ??= old?.spec.ports?.find((p) => p.port === port.port && (p.protocol ?? 'TCP') === port.protocol)?.nodePort ?? allocate.nodePort();
    }
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (spec.type !== 'ExternalName') {
    spec.clusterIP ??= old?.spec.clusterIP ?? allocate.clusterIp();
    spec.clusterIPs ??= [spec.clusterIP];
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
  }
}

/** Applies defaults in place; `old` is the stored version on updates. */
export function applyDefaults(resource: ResourceType, object: KubeObject, old: KubeObject | undefined, allocate: Allocations): void {
  const spec = isMap(object.spec) ? object.spec : undefined;
  switch (resource.kind) {
    case 'Deployment': if (spec) defaultDeployment(spec); break;
    case 'ReplicaSet':
      if (spec) {
        spec.replicas ??= 1;
        if (isMap(spec.template)) defaultPodSpec(spec.template.spec);
      }
      break;
    case 'StatefulSet':
      if (spec) {
        // As SetDefaults_StatefulSet: RollingUpdate with partition 0 unless told otherwise.
        spec.replicas ??= 1;
        spec.podManagementPolicy ??= 'OrderedReady';
        spec.revisionHistoryLimit ??= 10;
        const update = (spec.updateStrategy ??= {}) as Record<string, unknown>;
        update.type ??= 'RollingUpdate';
        if (update.type === 'RollingUpdate') ((update.rollingUpdate ??= {}) as Record<string, unknown>).partition ??= 0;
        if (isMap(spec.template)) defaultPodSpec(spec.template.spec);
      }
      break;
    case 'DaemonSet':
      if (spec) {
        // As SetDefaults_DaemonSet: RollingUpdate, maxUnavailable 1, maxSurge 0.
        spec.revisionHistoryLimit ??= 10;
        const update = (spec.updateStrategy ??= {}) as Record<string, unknown>;
        update.type ??= 'RollingUpdate';
        if (update.type === 'RollingUpdate') {
          const rolling = (update.rollingUpdate ??= {}) as Record<string, unknown>;
          rolling.maxUnavailable ??= 1;
          rolling.maxSurge ??= 0;
        }
        if (isMap(spec.template)) defaultPodSpec(spec.template.spec);
      }
      break;
    case 'Pod': defaultPodSpec(spec); break;
    case 'Service': if (spec) defaultService(object as Service, old as Service | undefined, allocate); break;
    case 'Secret': {
      object.type ??= 'Opaque';
      if (isMap(object.stringData)) {
        const data = (isMap(object.data) ? object.data : {}) as Record<string, string>;
        for (const [k, v] of Object.entries(object.stringData)) data[k] = Buffer.from(String(v)).toString('base64');
        object.data = data;
      }
      delete object.stringData;
      break;
    }
    case 'Namespace':
      object.spec = { finalizers: ['kubernetes'], ...(spec ?? {}) };
      object.status = { phase: 'Active', ...(isMap(object.status) ? object.status : {}) };
      object.metadata.labels = { ...object.metadata.labels, 'kubernetes.io/metadata.name': object.metadata.name ?? '' };
      break;
  }
}

/** A fresh object's status, as registry strategies reset it on create. */
export function initialStatus(resource: ResourceType, object: KubeObject): unknown {
  switch (resource.kind) {
    case 'Deployment': case 'ReplicaSet': case 'StatefulSet': case 'DaemonSet': return {};
    case 'Pod': return { phase: 'Pending', qosClass: 'BestEffort' };
    case 'Service': return { loadBalancer: {} };
    default: return object.status;
  }
}

/** Writes to the main resource keep the stored status; writes to /status keep everything else. */
export function separateStatus(resource: ResourceType, old: KubeObject, next: KubeObject, subresource: string | undefined): KubeObject {
  if (subresource === 'status') {
    // Like the deployment status strategy: spec stays, but labels and annotations may change with the
    // status (the deployment controller records the revision annotation this way).
    const merged = clone(old);
    merged.status = next.status;
    merged.metadata.resourceVersion = next.metadata.resourceVersion;
    merged.metadata.labels = next.metadata.labels;
    merged.metadata.annotations = next.metadata.annotations;
    // Apply computed these for the write; plain updates have them recomputed from `old` afterwards.
    merged.metadata.managedFields = next.metadata.managedFields;
    return merged;
  }
  if (resource.subresources.includes('status')) next.status = clone(old.status);
  return next;
}

/** Server-owned metadata survives any client write. */
export function keepSystemMetadata(resource: ResourceType, old: KubeObject, next: KubeObject, specChanged: boolean): void {
  const meta = next.metadata;
  meta.uid = old.metadata.uid;
  meta.creationTimestamp = old.metadata.creationTimestamp;
  meta.namespace = old.metadata.namespace;
  meta.name = old.metadata.name;
  if (WITH_GENERATION.has(resource.kind)) meta.generation = (old.metadata.generation ?? 1) + (specChanged ? 1 : 0);
  else delete meta.generation;
}

export function usesGeneration(resource: ResourceType): boolean {
  return WITH_GENERATION.has(resource.kind);
}

function containerCauses(containers: unknown, path: string): StatusCause[] {
  if (!Array.isArray(containers) || containers.length === 0) return [{ reason: 'FieldValueRequired', message: 'Required value', field: path }];
  return containers.flatMap((c, i) => {
    const out: StatusCause[] = [];
    if (!isMap(c) || typeof c.name !== 'string' || !c.name) out.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${path}[${i}].name` });
    if (!isMap(c) || typeof c.image !== 'string' || !c.image) out.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${path}[${i}].image` });
    return out;
  });
}

export function validate(resource: ResourceType, object: KubeObject, old: KubeObject | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  const name = object.metadata.name ?? '';
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` });
  }
  const spec = isMap(object.spec) ? object.spec : {};
  if (resource.kind === 'Deployment' || resource.kind === 'ReplicaSet' || resource.kind === 'StatefulSet' || resource.kind === 'DaemonSet') {
    const template = isMap(spec.template) ? spec.template : {};
    const labels = isMap(template.metadata) && isMap(template.metadata.labels) ? template.metadata.labels : {};
    const selector = isMap(spec.selector) ? spec.selector : undefined;
    if (!selector) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' });
    else {
      const matchLabels = isMap(selector.matchLabels) ? selector.matchLabels : {};
      if (Object.entries(matchLabels).some(([k, v]) => labels[k] !== v)) {
        causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: selector does not match template `labels`', field: 'spec.template.metadata.labels' });
      }
      if (old && isMap(old.spec) && !deepEqual(old.spec.selector, selector)) {
        causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable', field: 'spec.selector' });
      }
    }
    causes.push(...containerCauses(isMap(template.spec) ? template.spec.containers : undefined, 'spec.template.spec.containers'));
  }
  if (resource.kind === 'Pod') causes.push(...containerCauses(spec.containers, 'spec.containers'));
  return causes;
}
