/**
 * One way in for every delivery strategy: the task entry reads its inputs into a DeployRequest and a
 * Strategy, calls deliver() once and publishes the Delivery it gets back, whatever the strategy.
 *
 * A strategy's own settings travel whole inside its Strategy variant, so a setting that changes how a
 * strategy runs (a later `action: deploy | promote | abort`, say) is a field of those settings and
 * needs no change here or in the entry.
 *
 * Before any strategy, for the generated workload, blue-green colours whose keep time has passed are
 * scaled down (blueGreen.ts): the task never waits out a keep window, a later run of any strategy
 * ends it.
 */
import type { DeployContext, DeployRequest, DeployResult } from '../deploy';
import { boundCluster, deployApp } from '../deploy';
import type { AnalysisReport, Outcome } from './analysis';
import { type BlueGreenReport, type BlueGreenSettings, releaseExpiredColours, runBlueGreen } from './blueGreen';
import { type CanarySettings, runCanary } from './canary';
import type { CanaryState } from './canaryState';
import { colourName } from './colours';
import { TaskError } from '../../errors';

export type Strategy =
  | { readonly kind: 'rolling' }
  | { readonly kind: 'canary'; readonly settings: CanarySettings }
  | { readonly kind: 'blueGreen'; readonly settings: BlueGreenSettings };

export interface Delivery {
  readonly strategy: Strategy['kind'];
  /** Progressive strategies only: promoted, aborted or inconclusive. */
  readonly verdict?: Outcome;
  /** The canary's analysis. */
  readonly report?: AnalysisReport;
  /** The blue-green run: which colour serves, where it stopped. */
  readonly blueGreen?: BlueGreenReport;
  /** A canary left waiting for a later run's promote or abort (canaryDecision manual): its recorded state. */
  readonly pending?: CanaryState;
  /** What now serves, after a rolling deploy or a promotion; undefined when nothing new serves. */
  readonly deployed?: DeployResult;
}

export const ROLLING: Strategy = Object.freeze({ kind: 'rolling' });

export async function deliver(request: DeployRequest, strategy: Strategy, context: DeployContext): Promise<Delivery> {
  if (request.workload.kind === 'generated') {
    const cluster = boundCluster(context);
    const now = strategy.kind === 'blueGreen' && strategy.settings.now ? strategy.settings.now() : new Date();
    const { serving } = await releaseExpiredColours(cluster, request.namespace, request.workload.app.appName, now, context);
    // Rolling and canary deploy to `<app>`, blue: while green serves, that is not the serving Deployment.
    const app = request.workload.app.appName;
    if (serving === 'green' && strategy.kind !== 'blueGreen') throw new TaskError('DeployGreenServes', [app, colourName(app, 'green'), strategy.kind, app, strategy.kind]);
  }
  switch (strategy.kind) {
    case 'canary': {
      const canary = await runCanary(request, strategy.settings, context);
      return { strategy: strategy.kind, verdict: canary.verdict, report: canary.report, pending: canary.state, deployed: canary.deployed };
    }
    case 'blueGreen': {
      const blueGreen = await runBlueGreen(request, strategy.settings, context);
      return { strategy: strategy.kind, verdict: blueGreen.verdict, blueGreen: blueGreen.report, deployed: blueGreen.deployed };
    }
    case 'rolling':
      return { strategy: strategy.kind, deployed: await deployApp(request, context) };
  }
}
