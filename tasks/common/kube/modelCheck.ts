/**
 * The model identity check: once the new pods are Ready, each is asked `GET <path>` through the pod
 * proxy, and the JSON answer must carry the deployed model digest at `field` (dots go into nested
 * objects: `model.digest`). A pod that serves another digest, or none, fails the rollout: an old
 * image, a moved tag or a MODEL_PATH mistake all end up here instead of serving users.
 */
import { StoppedError } from '../net/errors';
import type { Log } from '../log';
import { format } from '../messages';
import { describeFailure, sanitize } from './apiCall';
import type { Cluster } from './cluster';
import { type ServingPod, callPod } from './podProxy';

export interface ModelCheckSettings {
  /** The digest deployed (sha256:...): what every pod must report. */
  readonly digest: string;
  readonly path: string;
  readonly field: string;
  /** Per request. Default 10 s. */
  readonly timeoutMs?: number;
}

/** The value at a dotted field of a JSON answer; undefined where the path leads nowhere. */
export function fieldAt(answer: unknown, field: string): unknown {
  let current = answer;
  for (const part of field.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Peer text for a message: one line, secrets masked, at most `max` characters. */
export function shown(value: unknown, max = 200): string {
  const text = (typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)).replace(/\s+/g, ' ');
  const clean = sanitize(text);
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** What is wrong with one pod's answer, as the failure's words; undefined when it serves the digest. */
export function modelAnswerProblem(pod: string, status: number, answer: unknown, settings: ModelCheckSettings): string | undefined {
  if (status < 200 || status >= 300) return format('DeployModelCheckStatus', pod, settings.path, status, shown(answer), settings.digest);
  const served = fieldAt(answer, settings.field);
  if (typeof served !== 'string' || served === '') return format('DeployModelCheckNoDigest', pod, settings.field, settings.path, shown(answer), settings.digest);
  if (served !== settings.digest) return format('DeployModelCheckWrongDigest', pod, shown(served, 100), settings.digest, settings.path, settings.field);
  return undefined;
}

export interface ModelCheckOutcome {
  /** The first failure, in the words of the rollout failure's detail. */
  readonly failure?: string;
  /** Pod name -> the digest it reported. */
  readonly served: Readonly<Record<string, string>>;
}

/** Asks every pod in turn; stops at the first that fails. The agent's cancel goes through. */
export async function checkServedModel(cluster: Cluster, pods: readonly ServingPod[], settings: ModelCheckSettings, log: Log): Promise<ModelCheckOutcome> {
  const served: Record<string, string> = {};
  if (pods.length === 0) return { failure: format('DeployModelCheckNoPods', settings.digest), served };
  for (const pod of pods) {
    if (pod.port === undefined) return { failure: format('DeployModelCheckNoPort', pod.name, settings.path), served };
    let reply;
    try {
      reply = await callPod(cluster, pod, pod.port, { method: 'GET', path: settings.path }, settings.timeoutMs ?? 10_000);
    } catch (error) {
      if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
      return { failure: format('DeployModelCheckNoAnswer', pod.name, settings.path, describeFailure(error)), served };
    }
    const problem = modelAnswerProblem(pod.name, reply.status, reply.body, settings);
    if (problem) return { failure: problem, served };
    served[pod.name] = settings.digest;
    log.info('DeployModelCheckPassed', pod.name, settings.digest, settings.path, settings.field);
  }
  return { served };
}
