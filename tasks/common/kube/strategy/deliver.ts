/**
 * One way in for every delivery strategy: the task entry reads its inputs into a DeployRequest and a
 * Strategy, calls deliver() once and publishes the Delivery it gets back, whatever the strategy.
 *
 * A strategy's own settings travel whole inside its Strategy variant, so a setting that changes how a
 * strategy runs (a later `action: deploy | promote | abort`, say) is a field of those settings and
 * needs no change here or in the entry.
 */
import type { DeployContext, DeployRequest, DeployResult } from '../deploy';
import { deployApp } from '../deploy';
import type { AnalysisReport, Outcome } from './analysis';
import { type CanarySettings, runCanary } from './canary';

export type Strategy =
  | { readonly kind: 'rolling' }
  | { readonly kind: 'canary'; readonly settings: CanarySettings };

export interface Delivery {
  readonly strategy: Strategy['kind'];
  /** Progressive strategies only: promoted, aborted or inconclusive. */
  readonly verdict?: Outcome;
  /** The canary's analysis. */
  readonly report?: AnalysisReport;
  /** What now serves, after a rolling deploy or a promotion; undefined when nothing new serves. */
  readonly deployed?: DeployResult;
}

export const ROLLING: Strategy = Object.freeze({ kind: 'rolling' });

export async function deliver(request: DeployRequest, strategy: Strategy, context: DeployContext): Promise<Delivery> {
  switch (strategy.kind) {
    case 'canary': {
      const canary = await runCanary(request, strategy.settings, context);
      return { strategy: strategy.kind, verdict: canary.verdict, report: canary.report, deployed: canary.deployed };
    }
    case 'rolling':
      return { strategy: strategy.kind, deployed: await deployApp(request, context) };
  }
}
