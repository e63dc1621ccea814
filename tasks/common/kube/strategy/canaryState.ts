/**
 * The state of a canary left waiting for a decision (canaryDecision manual), pure: what goes into
 * the `<app>-canary` Deployment's annotation and how it is read back. A later job (a promote or an
 * abort, after a ManualValidation or an approval, with a fresh token) knows nothing but what the
 * cluster holds, so everything the decision needs is here: the image under test, the model, the
 * step reached, the analysis outcome and its recommendation, the report's numbers, the run that
 * started it and when.
 *
 * Read back, the annotation is peer data: anyone who can edit the Deployment can write it. Every
 * field is checked for type, form and size, and the decision cross-checks it against the objects
 * themselves (decision.ts), so a malformed or tampered state is refused with what is wrong.
 */
import { TaskError } from '../../errors';
import { isValidDigest } from '../../oci/reference';
import { RUN_ANNOTATION_PREFIX } from '../traceability';
import type { ModelAnnotations } from '../types';
import { imageProblem } from '../validate';
import { type AnalysisReport, type OnInconclusive, type StepReport, checkOf } from './analysis';
import type { Verdict } from './statistics';

/** One annotation, JSON, so the state is written and read as a whole. */
export const CANARY_STATE_ANNOTATION = 'ai-model-delivery-tasks/canary-state';
export const CANARY_STATE_VERSION = 1;
/** Far below the API server's 256 KiB for all annotations together; a longer text is refused unread. */
export const MAX_STATE_CHARS = 32 * 1024;
const MAX_STEPS = 100;
const MAX_TEXT = 2048;
const MAX_RUN_ENTRIES = 20;
const PRINTABLE = /^[\x20-\x7e]*$/;
const RUN_KEY = /^azure-pipelines\/[A-Za-z]{1,40}$/;

/** A step as the state keeps it: the numbers of the run summary's table. */
export interface StepSummary {
  readonly step: number;
  readonly percent: number;
  readonly seconds: number;
  readonly verdict: Verdict;
  readonly canary: { readonly requests: number; readonly errors: number; readonly medianMs: number };
  readonly baseline: { readonly requests: number; readonly errors: number; readonly medianMs: number };
  readonly errorRateP: number;
  readonly latencyP: number;
}

export interface CanaryState {
  readonly version: typeof CANARY_STATE_VERSION;
  readonly app: string;
  readonly namespace: string;
  /** The image under test (the canary's). */
  readonly image: string;
  /** The image the stable Deployment and the baseline ran when the canary started. */
  readonly stableImage: string;
  /** The canary's model annotations, put on the stable Deployment by a promotion. */
  readonly model: ModelAnnotations;
  /** The step the canary and baseline were left at, 1-based, of how many, and its size. */
  readonly step: { readonly reached: number; readonly of: number; readonly percent: number; readonly replicas: number; readonly canaryShare: number };
  /** The analysis outcome: a failure never waits for a decision. */
  readonly outcome: 'pass' | 'inconclusive';
  /** What the analysis would have done by itself (onInconclusive decides for an inconclusive one). */
  readonly recommendation: 'promote' | 'abort';
  readonly onInconclusive: OnInconclusive;
  readonly steps: readonly StepSummary[];
  /** The traceability annotations of the run that started the canary (traceability.ts). */
  readonly run: Readonly<Record<string, string>>;
  /** ISO 8601, UTC. */
  readonly recordedAt: string;
}

/** A state that cannot be used: `problem` says what is wrong with it. */
export class CanaryStateError extends TaskError {
  constructor(readonly deployment: string, readonly problem: string) {
    super('DeployCanaryStateInvalid', [deployment, CANARY_STATE_ANNOTATION, problem]);
  }
}

function summaryOf(step: StepReport): StepSummary {
  const errors = checkOf(step, 'errorRate');
  const latency = checkOf(step, 'latency');
  const finite = (value: number | undefined) => (value !== undefined && Number.isFinite(value) ? value : 0);
  return {
    step: step.index + 1, percent: step.percent, seconds: step.seconds, verdict: step.verdict,
    canary: { requests: step.samples.canary.requests, errors: step.samples.canary.errors, medianMs: Math.round(finite(latency?.canaryMedianMs)) },
    baseline: { requests: step.samples.baseline.requests, errors: step.samples.baseline.errors, medianMs: Math.round(finite(latency?.baselineMedianMs)) },
    errorRateP: finite(errors?.pValue), latencyP: finite(latency?.pValue),
  };
}

/** The run that started the canary, as its state recorded it: the run's link, else its name. */
export function startedBy(state: CanaryState): string {
  return state.run[`${RUN_ANNOTATION_PREFIX}executionuri`] ?? state.run[`${RUN_ANNOTATION_PREFIX}execution`] ?? '(not recorded)';
}

/** The state of a judged canary: `report`'s last step is the one the tracks are left at. */
export function stateOf(report: AnalysisReport, settings: { model: ModelAnnotations; stepsPlanned: number; run?: Readonly<Record<string, string>>; now: Date }): CanaryState {
  const last = report.steps.at(-1);
  if (!last || last.verdict === 'fail') throw new Error('a canary waits for a decision only after a step that did not fail');
  const recommendation = last.verdict === 'pass' || report.options.onInconclusive === 'promote' ? 'promote' : 'abort';
  return {
    version: CANARY_STATE_VERSION, app: report.deployment, namespace: report.namespace, image: report.canaryImage, stableImage: report.stableImage,
    model: { ...settings.model },
    step: { reached: last.index + 1, of: settings.stepsPlanned, percent: last.percent, replicas: last.replicas, canaryShare: last.canaryShare },
    outcome: last.verdict, recommendation, onInconclusive: report.options.onInconclusive,
    steps: report.steps.slice(-MAX_STEPS).map(summaryOf),
    run: { ...(settings.run ?? {}) },
    recordedAt: settings.now.toISOString(),
  };
}

/**
 * The annotation's text, always one decodeState accepts in size: run values it would refuse are left
 * out, and a state still too long keeps only its last step, then no run annotations.
 */
export function encodeState(state: CanaryState): string {
  const run = Object.fromEntries(Object.entries(state.run).filter(([key, value]) => RUN_KEY.test(key) && value.length <= MAX_TEXT && PRINTABLE.test(value)).slice(0, MAX_RUN_ENTRIES));
  const shorter: CanaryState[] = [{ ...state, run }, { ...state, run, steps: state.steps.slice(-1) }, { ...state, run: {}, steps: state.steps.slice(-1) }];
  const texts = shorter.map((candidate) => JSON.stringify(candidate));
  return texts.find((text) => text.length <= MAX_STATE_CHARS) ?? texts.at(-1)!;
}

type Json = Record<string, unknown>;

/** Checks one field, naming it (`field`) in the problem. */
class Reader {
  constructor(private readonly deployment: string) {}

  fail(problem: string): never {
    throw new CanaryStateError(this.deployment, problem);
  }

  object(value: unknown, field: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(`'${field}' is not an object`);
    return value as Json;
  }

  text(value: unknown, field: string, pattern?: RegExp): string {
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) this.fail(`'${field}' is not a text of 1 to ${MAX_TEXT} characters`);
    if (pattern && !pattern.test(value)) this.fail(`'${field}' has an unexpected form`);
    return value;
  }

  optionalText(value: unknown, field: string, pattern?: RegExp): string | undefined {
    return value === undefined ? undefined : this.text(value, field, pattern);
  }

  number(value: unknown, field: string, min: number, max: number, whole = false): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (whole && !Number.isInteger(value))) {
      this.fail(`'${field}' is not a${whole ? ' whole' : ''} number from ${min} to ${max}`);
    }
    return value;
  }

  oneOf<const T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (!allowed.includes(value as T)) this.fail(`'${field}' is not one of ${allowed.join(', ')}`);
    return value as T;
  }

  image(value: unknown, field: string): string {
    const image = this.text(value, field);
    if (imageProblem(image)) this.fail(`'${field}' is not an image reference`);
    return image;
  }
}

const MODEL_VERSION = /^[\x21-\x7e]{1,128}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;
const VERDICTS = ['pass', 'fail', 'inconclusive'] as const;

function modelOf(read: Reader, value: unknown): ModelAnnotations {
  const model = read.object(value, 'model');
  const digest = read.optionalText(model.modelDigest, 'model.modelDigest');
  if (digest !== undefined && !isValidDigest(digest)) read.fail("'model.modelDigest' is not sha256: and 64 lower-case hex characters");
  return {
    ...(digest !== undefined ? { modelDigest: digest } : {}),
    ...(model.modelVersion !== undefined ? { modelVersion: read.text(model.modelVersion, 'model.modelVersion', MODEL_VERSION) } : {}),
    ...(model.pipelineRun !== undefined ? { pipelineRun: read.text(model.pipelineRun, 'model.pipelineRun', PRINTABLE) } : {}),
    ...(model.commit !== undefined ? { commit: read.text(model.commit, 'model.commit', PRINTABLE) } : {}),
  };
}

function trackNumbers(read: Reader, value: unknown, field: string): StepSummary['canary'] {
  const track = read.object(value, field);
  return {
    requests: read.number(track.requests, `${field}.requests`, 0, 1e9, true),
    errors: read.number(track.errors, `${field}.errors`, 0, 1e9, true),
    medianMs: read.number(track.medianMs, `${field}.medianMs`, 0, 1e9),
  };
}

function stepsOf(read: Reader, value: unknown): StepSummary[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_STEPS) read.fail(`'steps' is not a list of 1 to ${MAX_STEPS} steps`);
  return value.map((item, index) => {
    const step = read.object(item, `steps[${index}]`);
    return {
      step: read.number(step.step, `steps[${index}].step`, 1, 1000, true),
      percent: read.number(step.percent, `steps[${index}].percent`, 0, 100, true),
      seconds: read.number(step.seconds, `steps[${index}].seconds`, 0, 86400, true),
      verdict: read.oneOf(step.verdict, `steps[${index}].verdict`, VERDICTS),
      canary: trackNumbers(read, step.canary, `steps[${index}].canary`),
      baseline: trackNumbers(read, step.baseline, `steps[${index}].baseline`),
      errorRateP: read.number(step.errorRateP, `steps[${index}].errorRateP`, 0, 1),
      latencyP: read.number(step.latencyP, `steps[${index}].latencyP`, 0, 1),
    };
  });
}

function runOf(read: Reader, value: unknown): Record<string, string> {
  const run = read.object(value, 'run');
  const entries = Object.entries(run);
  if (entries.length > MAX_RUN_ENTRIES) read.fail(`'run' has more than ${MAX_RUN_ENTRIES} entries`);
  return Object.fromEntries(entries.map(([key, item]) => {
    if (!RUN_KEY.test(key)) read.fail(`'run' has an unexpected key`);
    return [key, read.text(item, `run.${key}`, PRINTABLE)];
  }));
}

/**
 * Reads the annotation of `deployment` (a name, for messages). Missing, too long, not JSON, another
 * version, or any field of the wrong type, form or range: a CanaryStateError saying which.
 */
export function decodeState(text: string | undefined, deployment: string): CanaryState {
  const read: Reader = new Reader(deployment);
  if (text === undefined) read.fail('the annotation is missing');
  if (text.length > MAX_STATE_CHARS) read.fail(`the annotation holds ${text.length} characters, more than ${MAX_STATE_CHARS}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    read.fail('the annotation is not JSON');
  }
  const state = read.object(parsed, 'the annotation');
  if (state.version !== CANARY_STATE_VERSION) read.fail(`'version' is not ${CANARY_STATE_VERSION}`);
  const step = read.object(state.step, 'step');
  const of = read.number(step.of, 'step.of', 1, 1000, true);
  return {
    version: CANARY_STATE_VERSION,
    app: read.text(state.app, 'app', /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/),
    namespace: read.text(state.namespace, 'namespace', /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/),
    image: read.image(state.image, 'image'),
    stableImage: read.image(state.stableImage, 'stableImage'),
    model: modelOf(read, state.model),
    step: {
      reached: read.number(step.reached, 'step.reached', 1, of, true), of,
      percent: read.number(step.percent, 'step.percent', 0, 100, true),
      replicas: read.number(step.replicas, 'step.replicas', 1, 1000, true),
      canaryShare: read.number(step.canaryShare, 'step.canaryShare', 0, 1),
    },
    outcome: read.oneOf(state.outcome, 'outcome', ['pass', 'inconclusive']),
    recommendation: read.oneOf(state.recommendation, 'recommendation', ['promote', 'abort']),
    onInconclusive: read.oneOf(state.onInconclusive, 'onInconclusive', ['abort', 'promote']),
    steps: stepsOf(read, state.steps),
    run: runOf(read, state.run),
    recordedAt: read.text(state.recordedAt, 'recordedAt', ISO_UTC),
  };
}
