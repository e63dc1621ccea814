import { strict as assert } from 'node:assert';
import { transferProgress } from '../../tasks/common/pipeline/progress';
import { markdownSummary } from '../../tasks/common/pipeline/summary';
import { fakeAgent } from '../support/fakeAgent';

describe('transfer progress', () => {
  it('reports percent, bytes and MB/s at a steady interval, and the agent progress command', async () => {
    const agent = fakeAgent({});
    let now = 0;
    const progress = transferProgress(agent, 20, () => now);
    progress.start('Downloading model.bin', 100 * 1024 * 1024);
    now = 1000;
    progress.advance(25 * 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 35));
    now = 2000;
    progress.advance(25 * 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 25));
    progress.finish();
    const lines = agent.lines.filter((line) => line.startsWith('Downloading model.bin'));
    assert.match(lines[0], /^Downloading model\.bin: 25% \(25\.0 MB of 100\.0 MB\) at 25\.0 MB\/s$/);
    assert.ok(lines.some((line) => /: 50% \(50\.0 MB of 100\.0 MB\) at 25\.0 MB\/s$/.test(line)), lines.join('\n'));
    assert.match(lines[lines.length - 1], /^Downloading model\.bin: 50\.0 MB in 2\.0s \(25\.0 MB\/s\)$/);
    assert.deepEqual([agent.progress[0], agent.progress[agent.progress.length - 1]], [25, 100]);
  });

  it('stops reporting after finish', async () => {
    const agent = fakeAgent({});
    const progress = transferProgress(agent, 5);
    progress.start('x', 10);
    progress.finish();
    const count = agent.lines.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(agent.lines.length, count);
  });
});

describe('run summary', () => {
  it('renders a table with values in code spans, escaping pipes', () => {
    const markdown = markdownSummary('Fetch Latest Model', [['Version', '1.4.0'], ['Path', 'a|b']]);
    assert.equal(markdown, '### Fetch Latest Model\n\n| | |\n|---|---|\n| Version | `1.4.0` |\n| Path | `a\\|b` |\n');
  });
});
