/**
 * The canary's report for the pipeline: the JSON file the analysisReport output names (in the agent's
 * temp folder) and the run summary's table of steps. Only numbers and fixed words reach the table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeployAiAppToAksOutputs as Outputs } from '../contract/deployAiAppToAks';
import { type AnalysisReport, checkOf, reportText } from '../kube/strategy/analysis';
import type { CanaryResult } from '../kube/strategy/canary';
import { type CanaryState, startedBy } from '../kube/strategy/canaryState';
import type { Agent } from './agent';
import { markdownSummary } from './summary';

export function writeCanaryReport(agent: Agent, report: AnalysisReport): string {
  const folder = agent.variable('Agent.TempDirectory') ?? os.tmpdir();
  const file = path.join(folder, `canary-${report.deployment}-${Date.now()}.json`);
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(file, reportText(report));
  return file;
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

/** One row per step: traffic, samples, error rates, median latencies, p-values, verdict. */
export function canaryStepsMarkdown(title: string, report: AnalysisReport): string {
  if (report.baseline === 'none') {
    return `### ${title}\n\nNo stable Deployment to compare with: the image was rolled out directly, without canary steps (a first deploy).\n\nVerdict: **${report.verdict}** (baseline: none)\n`;
  }
  const lines = [
    `### ${title}`, '',
    '| Step | Canary traffic | Duration | Samples (canary / baseline) | Errors (canary / baseline) | p | Median latency ms (canary / baseline) | p | Verdict |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const step of report.steps) {
    const errors = checkOf(step, 'errorRate')!;
    const latency = checkOf(step, 'latency')!;
    lines.push(`| ${step.index + 1} (${step.percent}%) | ${percent(step.canaryShare)} | ${step.seconds} s | ${step.samples.canary.requests} / ${step.samples.baseline.requests} | ${percent(errors.canaryRate)} / ${percent(errors.baselineRate)} | ${errors.pValue.toPrecision(3)} | ${Math.round(latency.canaryMedianMs)} / ${Math.round(latency.baselineMedianMs)} | ${latency.pValue.toPrecision(3)} | ${step.verdict} |`);
  }
  lines.push('', `Verdict: **${report.verdict}**`);
  if (report.recommendation) lines.push('', `The canary and its baseline keep running at this step until a run with action promote or abort. The analysis recommends: **${report.recommendation}**.`);
  return `${lines.join('\n')}\n`;
}

/** A promote or abort (action): the verdict output, and a summary of the state it acted on. */
export function publishDecision(agent: Agent, result: CanaryResult, action: string): void {
  agent.setOutput(Outputs.verdict, result.verdict);
  const title = agent.loc('SummaryTitleCanaryDecision');
  agent.uploadSummary(title, markdownSummary(title, [['Action', action], ['Verdict', result.verdict], ...(result.state ? stateRows(result.state) : [])]));
}

/** What the state recorded; its fields were checked when read (canaryState.ts), and escaped here. */
function stateRows(state: CanaryState): [string, string][] {
  const last = state.steps.at(-1);
  return [
    ['Image tested', state.image],
    ['Model', `${state.model.modelVersion ?? '-'} (${state.model.modelDigest ?? 'no digest'})`],
    ['Replaced image', state.stableImage],
    ['Left at', `step ${state.step.reached} of ${state.step.of}: ${state.step.percent}% (${state.step.replicas} canary and ${state.step.replicas} baseline replicas, ${percent(state.step.canaryShare)} of the traffic)`],
    ['Analysis', `${state.outcome}, recommending ${state.recommendation}`],
    ...(last ? [['Last step', `errors ${last.canary.errors}/${last.canary.requests} vs ${last.baseline.errors}/${last.baseline.requests} (p ${last.errorRateP.toPrecision(3)}), median ${last.canary.medianMs} vs ${last.baseline.medianMs} ms (p ${last.latencyP.toPrecision(3)})`] as [string, string]] : []),
    ['Started by', startedBy(state)],
    ['Recorded at', state.recordedAt],
  ];
}
