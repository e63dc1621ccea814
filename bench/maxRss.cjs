// Preloaded into a task process (NODE_OPTIONS=--require) to report its peak RSS when it exits,
// and (BENCH_READS_FILE) how many bytes it read from files under BENCH_MODEL_DIR: fs.open and
// fs.read are wrapped, which is what read streams (the task's only way of reading a model) use.
const fs = require('node:fs');
const { writeFileSync } = fs;
let modelBytes = 0;
const modelDir = process.env.BENCH_MODEL_DIR;
if (modelDir) {
  const modelFds = new Set();
  const open = fs.open;
  fs.open = function (path, ...rest) {
    const done = rest.pop();
    return open.call(fs, path, ...rest, (error, fd) => {
      if (!error && String(path).startsWith(modelDir)) modelFds.add(fd);
      done(error, fd);
    });
  };
  const read = fs.read;
  fs.read = function (fd, ...rest) {
    const done = rest.pop();
    if (typeof done !== 'function' || !modelFds.has(fd)) return read.call(fs, fd, ...rest, done);
    return read.call(fs, fd, ...rest, (error, count, buffer) => {
      if (!error) modelBytes += count;
      done(error, count, buffer);
    });
  };
  const close = fs.close;
  fs.close = function (fd, ...rest) {
    modelFds.delete(fd);
    return close.call(fs, fd, ...rest);
  };
}
process.on('exit', () => {
  if (process.env.BENCH_MAX_RSS_FILE) writeFileSync(process.env.BENCH_MAX_RSS_FILE, String(process.resourceUsage().maxRSS * 1024));
  if (process.env.BENCH_READS_FILE) writeFileSync(process.env.BENCH_READS_FILE, String(modelBytes));
});
