/** The run summary's blue-green table: which colour served before and now, where the run stopped and why. */
import type { BlueGreenReport } from '../kube/strategy/blueGreen';
import { colourName } from '../kube/strategy/colours';
import { markdownSummary } from './summary';

const STAGES: Readonly<Record<BlueGreenReport['stage'], string>> = Object.freeze({
  rollout: 'the new colour did not become ready',
  pods: 'the new colour failed the model check or golden requests through the pod proxy',
  preview: 'the new colour failed through the preview Service',
  address: "the app's address failed after the switch",
  done: 'all checks passed',
});

export function blueGreenMarkdown(title: string, report: BlueGreenReport, verdict: string): string {
  const colour = (which: BlueGreenReport['newColour']) => `${which} (${colourName(report.app, which)})`;
  const rows: [string, string][] = [
    ['Verdict', verdict],
    ['Serving before', report.previousColour ? colour(report.previousColour) : '(nothing: first deploy)'],
    ['New colour', `${colour(report.newColour)}: ${report.image}`],
    ['Checks', `${STAGES[report.stage]}${report.detail ? `: ${report.detail}` : ''}`],
    ['Switched', report.stage === 'done' ? 'yes' : report.switchedBack ? 'yes, then back after the address check failed' : 'no: the Service was not written'],
    ['Serving now', colour(report.activeColour)],
    ...(report.preview ? [['Preview', report.preview.url ?? report.preview.ip ?? '-'] as [string, string]] : []),
    ...(report.previousColour && report.stage === 'done' ? [['Old colour', report.keepUntil ? `kept until ${report.keepUntil}` : 'scaled down'] as [string, string]] : []),
  ];
  return markdownSummary(title, rows);
}
