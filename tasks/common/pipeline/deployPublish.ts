/**
 * What Deploy publishes, the same whichever way it reached the cluster (API server or AKS run
 * command): the outputs and the run summary of a rollout, or of one that failed.
 */
import type { VerifiedProvenance } from '../attest/verify';
import { DeployAiAppToAksOutputs as Outputs } from '../contract/deployAiAppToAks';
import { TaskError } from '../errors';
import type { DeployResult, RolloutFailedError } from '../kube/deploy';
import type { Delivery } from '../kube/strategy/deliver';
import { blueGreenMarkdown } from './blueGreenSummary';
import { canaryStepsMarkdown, writeCanaryReport } from './canaryReport';
import type { Agent } from './agent';
import type { DeployTaskInputs } from './deployInputs';
import { markdownSummary } from './summary';

export function publishDeployed(agent: Agent, inputs: Pick<DeployTaskInputs, 'model'>, result: DeployResult, provenance: VerifiedProvenance | undefined): void {
  agent.setOutput(Outputs.deploymentName, result.deploymentName);
  agent.setOutput(Outputs.revision, String(result.revision));
  agent.setOutput(Outputs.deployedImage, result.deployedImage);
  agent.setOutput(Outputs.serviceIp, result.service?.ip ?? '');
  agent.setOutput(Outputs.serviceHostname, result.service?.hostname ?? '');
  agent.setOutput(Outputs.serviceUrl, result.service?.url ?? '');
  agent.setOutput(Outputs.rolledBack, 'false');
  agent.setOutput(Outputs.modelVerified, String(result.modelVerified));
  agent.setOutput(Outputs.workloads, JSON.stringify(result.workloads));
  summarize(agent, inputs, [
    ['Deployment', `${result.namespace}/${result.deploymentName}, revision ${result.revision}${result.unchanged ? ' (already running: nothing rolled out)' : ''}`],
    ['Image', result.deployedImage],
    ['Address', result.service?.url ?? result.service?.hostname ?? result.service?.ip ?? '(no Service)'],
    ['Model verified', result.modelVerified ? 'yes: every ready pod reported the deployed digest' : 'no (not asked)'],
    ['Rolled back', 'no'],
  ], provenance);
}

export function publishRolloutFailure(agent: Agent, inputs: Pick<DeployTaskInputs, 'model'>, failure: RolloutFailedError, provenance: VerifiedProvenance | undefined): void {
  agent.setOutput(Outputs.deploymentName, failure.deployment);
  agent.setOutput(Outputs.rolledBack, String(failure.rolledBack));
  agent.setOutput(Outputs.modelVerified, 'false');
  if (failure.rolledBack) {
    agent.setOutput(Outputs.revision, String(failure.previousRevision ?? ''));
    agent.setOutput(Outputs.deployedImage, (failure.previousImages ?? []).join(','));
  }
  summarize(agent, inputs, [
    ['Deployment', `${failure.namespace}/${failure.deployment}: revision ${failure.revision} failed (${failure.detail})`],
    ['Image', `${failure.image} (failed)`],
    ['Rolled back', failure.rolledBack ? `yes, to revision ${failure.previousRevision}: ${(failure.previousImages ?? []).join(', ')}` : 'no'],
  ], provenance);
}

function summarize(agent: Agent, inputs: Pick<DeployTaskInputs, 'model'>, rows: [string, string][], provenance: VerifiedProvenance | undefined): void {
  const title = agent.loc('SummaryTitleDeploy');
  const model = inputs.model.modelVersion ? `${inputs.model.modelVersion}${inputs.model.modelDigest ? ` (${inputs.model.modelDigest})` : ''}` : '(not given)';
  const signed: [string, string][] = provenance ? [['Provenance', `signed by key ${provenance.signer}; model ${provenance.model}`]] : [];
  agent.uploadSummary(title, markdownSummary(title, [...rows.slice(0, 2), ['Model', model], ...signed, ...rows.slice(2)]));
}

/** What a progressive strategy adds: its verdict, the canary's report and step table, blue-green's colours. */
export function publishStrategy(agent: Agent, delivery: Delivery): void {
  if (delivery.verdict) agent.setOutput(Outputs.verdict, delivery.verdict);
  if (delivery.blueGreen) {
    agent.setOutput(Outputs.activeColor, delivery.blueGreen.activeColour);
    agent.uploadSummary(agent.loc('SummaryTitleBlueGreen'), blueGreenMarkdown(agent.loc('SummaryTitleBlueGreen'), delivery.blueGreen, delivery.verdict ?? ''));
  }
  if (delivery.report) {
    agent.setOutput(Outputs.analysisReport, writeCanaryReport(agent, delivery.report));
    agent.uploadSummary(agent.loc('SummaryTitleCanary'), canaryStepsMarkdown(agent.loc('SummaryTitleCanary'), delivery.report));
  }
}

/** Why a progressive strategy ended without rolling the image out: the task fails with it. */
export function notDelivered(inputs: DeployTaskInputs, delivery: Delivery): TaskError {
  const verdict = delivery.verdict ?? 'aborted';
  if (delivery.blueGreen) return new TaskError('DeployBlueGreenNotSwitched', [inputs.deploy.image, verdict, delivery.blueGreen.stage, delivery.blueGreen.detail ?? '']);
  return new TaskError('DeployCanaryNotPromoted', [inputs.deploy.image, verdict]);
}
