// Preloaded into a task process (NODE_OPTIONS=--require) to report its peak RSS when it exits.
const { writeFileSync } = require('node:fs');
process.on('exit', () => {
  if (process.env.BENCH_MAX_RSS_FILE) writeFileSync(process.env.BENCH_MAX_RSS_FILE, String(process.resourceUsage().maxRSS * 1024));
});
