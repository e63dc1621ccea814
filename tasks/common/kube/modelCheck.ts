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

/** One pod's answer to the check, however it was asked (pod proxy here, kubectl get --raw through AKS run command). */
export interface PodAnswer {
  readonly pod: string;
  /** undefined: the pod declares no port, so it could not be asked. */
  readonly port?: number;
  readonly status?: number;
  readonly body?: unknown;
  /** Why no answer came, when none did. */
  readonly error?: string;
}

/** The failure's words for one pod's answer; undefined when it serves the digest. */
export function podAnswerProblem(answer: PodAnswer, settings: ModelCheckSettings): string | undefined {
  if (answer.port === undefined) return format('DeployModelCheckNoPort', answer.pod, settings.path);
  if (answer.error !== undefined) return format('DeployModelCheckNoAnswer', answer.pod, settings.path, answer.error);
  return modelAnswerProblem(answer.pod, answer.status ?? 0, answer.body, settings);
}

/**
 * Judges the pods in turn, asking each only when the ones before it passed; stops at the first
 * that fails. Both paths judge through here: the pod proxy asks as it goes, the private path hands
 * over the answers the run command already collected.
 */
export async function judgeServedModel(pods: readonly string[], ask: (pod: string) => Promise<PodAnswer> | PodAnswer, settings: ModelCheckSettings, log: Log): Promise<ModelCheckOutcome> {
  const served: Record<string, string> = {};
  if (pods.length === 0) return { failure: format('DeployModelCheckNoPods', settings.digest), served };
  for (const pod of pods) {
    const problem = podAnswerProblem(await ask(pod), settings);
    if (problem) return { failure: problem, served };
    served[pod] = settings.digest;
    log.info('DeployModelCheckPassed', pod, settings.digest, settings.path, settings.field);
  }
  return { served };
}

/** Asks every pod in turn through the pod proxy; stops at the first that fails. The agent's cancel goes through. */
export function checkServedModel(cluster: Cluster, pods: readonly ServingPod[], settings: ModelCheckSettings, log: Log): Promise<ModelCheckOutcome> {
  const byName = new Map(pods.map((pod) => [pod.name, pod]));
  return judgeServedModel(pods.map((pod) => pod.name), async (name) => {
    const pod = byName.get(name) as ServingPod;
    if (pod.port === undefined) return { pod: name };
    try {
      const reply = await callPod(cluster, pod, pod.port, { method: 'GET', path: settings.path }, settings.timeoutMs ?? 10_000);
      return { pod: name, port: pod.port, status: reply.status, body: reply.body };
    } catch (error) {
      if (error instanceof StoppedError && error.reason === 'cancelled') throw error;
      return { pod: name, port: pod.port, error: describeFailure(error) };
    }
  }, settings, log);
}
