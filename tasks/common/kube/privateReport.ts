/**
 * Reads the report lines a private-path script printed (privateCommand.ts) out of the run command's
 * logs. They are peer data: bounded in count and size, each decoded and checked for the shape it
 * must have; a line that is not right fails the task instead of being half-used.
 */
import { TaskError } from '../errors';
import { BODY_LIMITS } from '../net/body';
import { commandName } from './privateCommand';
import type { KubeObject } from './types';
import type { RevisionLike } from './workloads/controllerRevision';

const maxRecords = 2000;

export interface PodRecord {
  readonly probe: number;
  readonly pod: string;
  /** kubectl's exit code; undefined when the pod could not be asked (no port). */
  readonly exitCode?: number;
  /** The pod's answer, or kubectl's words when it failed. */
  readonly text: string;
}

export interface CommandReport {
  /** Workload index -> its generation before the apply ('' when it did not exist). */
  readonly before: ReadonlyMap<number, string>;
  readonly objects: readonly KubeObject[];
  /** Workload index -> the ControllerRevisions listed by its selector. */
  readonly revisions: ReadonlyMap<number, readonly RevisionLike[]>;
  /** Probes whose pods were listed. */
  readonly listed: ReadonlySet<number>;
  readonly pods: readonly PodRecord[];
  /** The logs without the report lines: what kubectl said, for messages. */
  readonly said: string;
}

function bad(clusterName: string, why: string): TaskError {
  return new TaskError('AksPrivateReportInvalid', [clusterName, why]);
}

function decoded(clusterName: string, field: string, limit: number): string {
  if (field.length > Math.ceil(limit / 3) * 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(field)) throw bad(clusterName, `a field is not base64 of at most ${limit} bytes`);
  return Buffer.from(field, 'base64').toString('utf8');
}

function objectOf(clusterName: string, text: string): KubeObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad(clusterName, 'an object read back is not JSON');
  }
  const object = value as KubeObject;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof object.kind !== 'string' || typeof object.apiVersion !== 'string' || typeof object.metadata?.name !== 'string') {
    throw bad(clusterName, 'an object read back has no kind, apiVersion or name');
  }
  return object;
}

function itemsOf(clusterName: string, text: string): RevisionLike[] {
  let value: { items?: unknown } | undefined;
  try {
    value = JSON.parse(text) as { items?: unknown };
  } catch {
    throw bad(clusterName, 'a list read back is not JSON');
  }
  if (!Array.isArray(value?.items)) throw bad(clusterName, 'a list read back has no items');
  return value.items.filter((item): item is RevisionLike => typeof item === 'object' && item !== null);
}

export function readReport(logs: string, marker: string, clusterName: string): CommandReport {
  const before = new Map<number, string>();
  const objects: KubeObject[] = [];
  const revisions = new Map<number, RevisionLike[]>();
  const listed = new Set<number>();
  const pods: PodRecord[] = [];
  const said: string[] = [];
  let records = 0;
  for (const line of logs.split('\n')) {
    if (!line.startsWith(`${marker} `)) {
      said.push(line);
      continue;
    }
    if (++records > maxRecords) throw bad(clusterName, `more than ${maxRecords} report lines`);
    const [, what, ...fields] = line.trimEnd().split(' ');
    const index = Number(fields[0]);
    if (what === 'before' && Number.isInteger(index) && fields.length <= 2 && /^\d*$/.test(fields[1] ?? '')) before.set(index, fields[1] ?? '');
    else if (what === 'object' && fields.length === 1) objects.push(objectOf(clusterName, decoded(clusterName, fields[0], BODY_LIMITS.manifest)));
    else if (what === 'object' && fields.length === 0) continue; // kubectl get failed: its words are in the logs; the object is missing
    else if (what === 'revisions' && Number.isInteger(index) && fields.length <= 2) revisions.set(index, fields[1] ? itemsOf(clusterName, decoded(clusterName, fields[1], BODY_LIMITS.manifest)) : []);
    else if (what === 'listed' && Number.isInteger(index) && fields.length === 1) listed.add(index);
    else if (what === 'pod' && Number.isInteger(index) && fields.length >= 3 && commandName.test(fields[1])) {
      const asked = fields[2] !== '-';
      if (asked && !/^\d{1,3}$/.test(fields[2])) throw bad(clusterName, 'a pod line has no exit code');
      pods.push({ probe: index, pod: fields[1], ...(asked ? { exitCode: Number(fields[2]) } : {}), text: asked ? decoded(clusterName, fields[3] ?? '', BODY_LIMITS.json) : '' });
    } else throw bad(clusterName, `an unexpected report line (${what ?? ''})`);
  }
  return { before, objects, revisions, listed, pods, said: said.join('\n') };
}
