/**
 * The canary's report for the pipeline: the JSON file the analysisReport output names (in the agent's
 * temp folder) and the run summary's table of steps. Only numbers and fixed words reach the table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type AnalysisReport, reportText } from '../kube/strategy/analysis';
import type { ErrorRateCheck, LatencyCheck } from '../kube/strategy/statistics';
import type { Agent } from './agent';

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
  const lines = [
    `### ${title}`, '',
    '| Step | Canary traffic | Duration | Samples (canary / baseline) | Errors (canary / baseline) | p | Median latency ms (canary / baseline) | p | Verdict |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const step of report.steps) {
    const errors = step.checks.find((check) => check.check === 'errorRate') as ErrorRateCheck;
    const latency = step.checks.find((check) => check.check === 'latency') as LatencyCheck;
    lines.push(`| ${step.index + 1} (${step.percent}%) | ${percent(step.canaryShare)} | ${step.seconds} s | ${step.samples.canary.requests} / ${step.samples.baseline.requests} | ${percent(errors.canaryRate)} / ${percent(errors.baselineRate)} | ${errors.pValue.toPrecision(3)} | ${Math.round(latency.canaryMedianMs)} / ${Math.round(latency.baselineMedianMs)} | ${latency.pValue.toPrecision(3)} | ${step.verdict} |`);
  }
  lines.push('', `Verdict: **${report.verdict}**`);
  return `${lines.join('\n')}\n`;
}
