/**
 * Server-side printing: `kubectl get` asks for meta.k8s.io Tables and shows the columns it gets back
 * (without a Table it could only print NAME and AGE). Columns follow the real server's printers.
 */
import type { ResourceType } from './resources';
import type { Deployment, KubeObject, Pod, ReplicaSet, Service } from './types';
import { isMap } from './types';

type Cell = string | number;
interface Column { name: string; type?: 'string' | 'integer' | 'date'; priority?: number; format?: string; cell: (o: KubeObject) => Cell }

/** kubectl's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  return hours % 24 === 0 || hours >= 24 * 8 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
}

const since = (time: unknown): string => (typeof time === 'string' ? humanDuration(Date.now() - Date.parse(time)) : '<unknown>');
const age: Column = { name: 'Age', type: 'string', cell: (o) => since(o.metadata.creationTimestamp) };
const nameColumn: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata.name ?? '' };

function templateColumns(get: (o: KubeObject) => { containers?: { name: string; image: string }[] } | undefined, selector: (o: KubeObject) => string): Column[] {
  return [
    { name: 'Containers', priority: 1, cell: (o) => (get(o)?.containers ?? []).map((c) => c.name).join(',') },
    { name: 'Images', priority: 1, cell: (o) => (get(o)?.containers ?? []).map((c) => c.image).join(',') },
    { name: 'Selector', priority: 1, cell: selector },
  ];
}

const matchLabels = (o: KubeObject) => Object.entries((o as Deployment).spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');

function podStatus(pod: Pod): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  for (const status of pod.status?.containerStatuses ?? []) {
    const waiting = status.state.waiting;
    const terminated = status.state.terminated;
    if (isMap(waiting) && typeof waiting.reason === 'string') return waiting.reason;
    if (isMap(terminated) && typeof terminated.reason === 'string') return terminated.reason;
  }
  return pod.status?.phase ?? 'Unknown';
}

function externalIp(svc: Service): string {
  if (svc.spec.type === 'LoadBalancer') {
    const ips = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname).filter(Boolean);
    return ips.length > 0 ? ips.join(',') : '<pending>';
  }
  return '<none>';
}

function eventLastSeen(o: KubeObject): string {
  const last = since(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp);
  const count = typeof o.count === 'number' ? o.count : 1;
  return count > 1 ? `${last} (x${count} over ${since(o.firstTimestamp)})` : last;
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [nameColumn,
    { name: 'Ready', cell: (o) => `${((o as Pod).status?.containerStatuses ?? []).filter((c) => c.ready).length}/${(o as Pod).spec.containers.length}` },
    { name: 'Status', cell: (o) => podStatus(o as Pod) },
    { name: 'Restarts', cell: (o) => String(((o as Pod).status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0)) },
    age,
    { name: 'IP', priority: 1, cell: (o) => (o as Pod).status?.podIP ?? '<none>' },
    { name: 'Node', priority: 1, cell: (o) => (o as Pod).spec.nodeName ?? '<none>' },
    { name: 'Nominated Node', priority: 1, cell: () => '<none>' },
    { name: 'Readiness Gates', priority: 1, cell: () => '<none>' }],
  Deployment: [nameColumn,
    { name: 'Ready', cell: (o) => `${(o as Deployment).status?.readyReplicas ?? 0}/${(o as Deployment).spec.replicas}` },
    { name: 'Up-to-date', type: 'integer', cell: (o) => (o as Deployment).status?.updatedReplicas ?? 0 },
    { name: 'Available', type: 'integer', cell: (o) => (o as Deployment).status?.availableReplicas ?? 0 },
    age, ...templateColumns((o) => (o as Deployment).spec.template.spec, matchLabels)],
  ReplicaSet: [nameColumn,
    { name: 'Desired', type: 'integer', cell: (o) => (o as ReplicaSet).spec.replicas },
    { name: 'Current', type: 'integer', cell: (o) => (o as ReplicaSet).status?.replicas ?? 0 },
    { name: 'Ready', type: 'integer', cell: (o) => (o as ReplicaSet).status?.readyReplicas ?? 0 },
    age, ...templateColumns((o) => (o as ReplicaSet).spec.template.spec, matchLabels)],
  Service: [nameColumn,
    { name: 'Type', cell: (o) => (o as Service).spec.type ?? 'ClusterIP' },
    { name: 'Cluster-IP', cell: (o) => (o as Service).spec.clusterIP ?? '<none>' },
    { name: 'External-IP', cell: (o) => externalIp(o as Service) },
    { name: 'Port(s)', cell: (o) => ((o as Service).spec.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') || '<none>' },
    age,
    { name: 'Selector', priority: 1, cell: (o) => Object.entries((o as Service).spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>' }],
  Event: [
    { name: 'Last Seen', cell: eventLastSeen },
    { name: 'Type', cell: (o) => String(o.type ?? '') },
    { name: 'Reason', cell: (o) => String(o.reason ?? '') },
    { name: 'Object', cell: (o) => (isMap(o.involvedObject) ? `${String(o.involvedObject.kind).toLowerCase()}/${String(o.involvedObject.name)}` : '') },
    { name: 'Subobject', priority: 1, cell: (o) => (isMap(o.involvedObject) ? String(o.involvedObject.fieldPath ?? '') : '') },
    { name: 'Source', priority: 1, cell: (o) => (isMap(o.source) ? [o.source.component, o.source.host].filter(Boolean).join(', ') : '') },
    { name: 'Message', cell: (o) => String(o.message ?? '') },
    { name: 'First Seen', priority: 1, cell: (o) => since(o.firstTimestamp) },
    { name: 'Count', priority: 1, cell: (o) => String(o.count ?? 1) },
    { ...nameColumn, priority: 1 }],
  Namespace: [nameColumn, { name: 'Status', cell: (o) => String(isMap(o.status) ? o.status.phase ?? '' : '') }, age],
  Secret: [nameColumn, { name: 'Type', cell: (o) => String(o.type ?? 'Opaque') },
    { name: 'Data', type: 'integer', cell: (o) => Object.keys(isMap(o.data) ? o.data : {}).length }, age],
  ConfigMap: [nameColumn, { name: 'Data', type: 'integer', cell: (o) => Object.keys(isMap(o.data) ? o.data : {}).length }, age],
  Node: [nameColumn, { name: 'Status', cell: () => 'Ready' }, { name: 'Roles', cell: () => '<none>' }, age,
    { name: 'Version', cell: (o) => String(isMap(o.status) && isMap(o.status.nodeInfo) ? o.status.nodeInfo.kubeletVersion : '') }],
};

/** A meta.k8s.io/v1 Table of `objects`; includeObject as the real server reads it (Metadata by default). */
export function toTable(resource: ResourceType, objects: KubeObject[], resourceVersion: string, includeObject: string | null): unknown {
  const columns = COLUMNS[resource.kind] ?? [nameColumn, age];
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion },
    columnDefinitions: columns.map((c) => ({
      name: c.name, type: c.type ?? 'string', format: c.format ?? '', description: c.name, priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o)),
      ...(includeObject === 'None' ? {} : {
        object: includeObject === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
      }),
    })),
  };
}

export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((range) => /;\s*as=Table/.test(range) && /g=meta\.k8s\.io/.test(range));
}
