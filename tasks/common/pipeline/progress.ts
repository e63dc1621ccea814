import type { Progress } from '../log';
import { formatBytes } from '../bytes';
import type { Agent } from './agent';

/**
 * Turns byte counts into a log line at a steady interval (percent, bytes and MB/s) and the agent's
 * progress command, so a 20-minute download never looks stuck and a fast one is not noisy.
 */
export function transferProgress(agent: Pick<Agent, 'log' | 'setProgress'>, intervalMs = 5000, now: () => number = Date.now): Progress {
  let label = '';
  let total = 0;
  let done = 0;
  let startedAt = 0;
  let lastAt = 0;
  let lastDone = 0;
  let timer: NodeJS.Timeout | undefined;

  const report = () => {
    const at = now();
    const rate = (done - lastDone) / Math.max((at - lastAt) / 1000, 0.001);
    const percent = total > 0 ? (done / total) * 100 : 100;
    agent.log.info('ProgressLine', label, percent.toFixed(0), formatBytes(done), formatBytes(total), formatBytes(rate));
    agent.setProgress(percent, label);
    lastAt = at;
    lastDone = done;
  };

  return {
    start(newLabel, totalBytes) {
      label = newLabel;
      total = totalBytes;
      done = 0;
      startedAt = lastAt = now();
      lastDone = 0;
      clearInterval(timer);
      timer = setInterval(report, intervalMs);
      timer.unref();
    },
    advance(bytes) {
      done += bytes;
    },
    finish() {
      clearInterval(timer);
      timer = undefined;
      const seconds = Math.max((now() - startedAt) / 1000, 0.001);
      agent.setProgress(100, label);
      agent.log.info('ProgressDone', label, formatBytes(done), seconds.toFixed(1), formatBytes(done / seconds));
    },
  };
}
