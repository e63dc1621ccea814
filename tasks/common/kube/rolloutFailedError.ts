/**
 * A rollout that did not complete. It carries what the task entry publishes even on failure (the
 * `rolledBack` output, the revision now running) and the diagnostics already in its message.
 */
import { TaskError } from '../errors';
import type { TextBlock } from '../log';
import type { ProofFailureReason } from './modelProof';

export interface RolloutFailure {
  /** Deployment (the default), StatefulSet or DaemonSet: what the message names. */
  readonly kind?: string;
  /** The workload's name (a Deployment's, or a StatefulSet's or DaemonSet's). */
  readonly deployment: string;
  readonly namespace: string;
  /** The image that failed to roll out. */
  readonly image: string;
  /** The rollout did not complete, or its pods did not prove the model (identity check, golden requests). */
  readonly reason: 'ProgressDeadlineExceeded' | 'Timeout' | ProofFailureReason;
  /** kubectl's words for the failure, e.g. 'deployment "app" exceeded its progress deadline'. */
  readonly detail: string;
  /** The revision that failed. */
  readonly revision: number;
  /** Pod statuses and warning events of the failed pods, one readable block. */
  readonly diagnostics: TextBlock;
  readonly rolledBack: boolean;
  /** True when rollback was wanted but the Deployment had no earlier revision. */
  readonly noHistory?: boolean;
  /** Where the rollback went: the revision now running and its images. */
  readonly previousRevision?: number;
  readonly previousImages?: readonly string[];
  /** Why the rollback itself failed, when it did. */
  readonly rollbackError?: string;
}

// The class carries every RolloutFailure field (declaration merging), copied in by the constructor.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface RolloutFailedError extends RolloutFailure {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class RolloutFailedError extends TaskError {
  constructor(failure: RolloutFailure) {
    const head = [failure.kind ?? 'Deployment', failure.deployment, failure.namespace, failure.image, failure.detail];
    if (failure.rolledBack) {
      super('DeployRolloutFailedRolledBack', [...head, failure.previousRevision ?? 0, (failure.previousImages ?? []).join(', '), failure.diagnostics]);
    } else if (failure.rollbackError !== undefined) {
      super('DeployRolloutFailedRollbackFailed', [...head, failure.rollbackError, failure.diagnostics]);
    } else {
      super(failure.noHistory ? 'DeployRolloutFailedNoHistory' : 'DeployRolloutFailed', [...head, failure.diagnostics]);
    }
    Object.assign(this, failure);
  }
}
