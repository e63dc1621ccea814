// Preloaded into a bundled task (NODE_OPTIONS=--require): at exit, writes every file the run
// require()d to RECORD_LOADS_TO, so a test can tell which of the bundle's lazy chunks a run read.
'use strict';
const { writeFileSync } = require('node:fs');

process.on('exit', () => writeFileSync(process.env.RECORD_LOADS_TO, JSON.stringify(Object.keys(require.cache))));
