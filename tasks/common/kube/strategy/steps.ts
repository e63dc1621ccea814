/**
 * Canary steps, pure: the `canarySteps` text (`10%:5m, 50%:5m`), how many canary and baseline
 * replicas a step runs next to the stable Deployment, and the traffic share that gives.
 *
 * The canary and the baseline are the same size, so their comparison is fair; both sit behind the
 * Service's selector next to the untouched stable pods, and a Service spreads connections over its
 * ready endpoints, so a track's share of traffic is its share of ready replicas. A step's percent
 * sizes the canary against the stable Deployment (10 % of 10 stable replicas = 1 canary + 1
 * baseline); the share the canary really gets, c / (stable + 2c), is reported next to it.
 */
import { INPUT_SLOT, SettingError } from '../../errors';
import { format } from '../../messages';

export interface CanaryStep {
  /** 0 is a dark step: the canary runs but the Service does not select it. */
  readonly percent: number;
  readonly seconds: number;
}

export const MIN_STEP_SECONDS = 10;
export const MAX_STEP_SECONDS = 24 * 3600;

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };
const STEP = /^(\d{1,3})\s*%\s*:\s*(\d{1,6})\s*([smh])$/;

function invalid(step: string, reason: string): SettingError {
  return new SettingError('canarySteps', 'DeployCanaryStepsInvalid', [INPUT_SLOT, step, reason]);
}

/**
 * Reads the steps. `generatedService` says whether the Service is the one the task generates:
 * only then can a dark (0 %) step keep the canary pods out of its selector.
 */
export function parseCanarySteps(text: string, generatedService: boolean): CanaryStep[] {
  const parts = text.split(',').map((part) => part.trim()).filter((part) => part.length > 0);
  if (parts.length === 0) throw new SettingError('canarySteps', 'DeployCanaryStepsEmpty', [INPUT_SLOT]);
  const steps: CanaryStep[] = [];
  for (const part of parts) {
    const match = STEP.exec(part);
    if (!match) throw invalid(part, format('DeployCanaryStepFormat'));
    const percent = Number(match[1]);
    const seconds = Number(match[2]) * UNIT_SECONDS[match[3]!]!;
    if (percent > 100) throw invalid(part, format('DeployCanaryStepPercent', percent));
    if (seconds < MIN_STEP_SECONDS) throw invalid(part, format('DeployCanaryStepTooShort', seconds));
    if (seconds > MAX_STEP_SECONDS) throw invalid(part, format('DeployCanaryStepTooLong', seconds));
    if (percent === 0 && !generatedService) throw invalid(part, format('DeployCanaryDarkStepNeedsService'));
    const previous = steps.at(-1);
    if (previous && percent < previous.percent) throw invalid(part, format('DeployCanaryStepsDecrease', previous.percent));
    steps.push({ percent, seconds });
  }
  return steps;
}

export interface StepSize {
  /** Replicas of <app>-canary, and of <app>-baseline, which is always the same size. */
  readonly replicas: number;
  /** The canary's share of the Service's traffic, 0 to 1: 0 on a dark step. */
  readonly canaryShare: number;
}

/** At least one canary pod even on a dark step or a tiny percent: there must be something to check. */
export function stepSize(step: CanaryStep, stableReplicas: number): StepSize {
  const stable = Math.max(0, Math.floor(stableReplicas));
  const replicas = Math.max(1, Math.ceil((step.percent / 100) * stable));
  const canaryShare = step.percent === 0 ? 0 : replicas / (stable + 2 * replicas);
  return { replicas, canaryShare };
}
