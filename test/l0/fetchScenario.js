// One MockTestRunner scenario for FetchLatestModel@1: inputs come from L0_INPUTS (JSON) so each
// L0 test can describe its case without a file of its own. Runs the L0 bundle (task-lib external).
const path = require('node:path');
const { TaskMockRunner } = require('azure-pipelines-task-lib/mock-run');

const runner = new TaskMockRunner(path.join(__dirname, '..', '..', 'dist', 'l0', 'FetchLatestModelV1', 'index.js'));
for (const [name, value] of Object.entries(JSON.parse(process.env.L0_INPUTS || '{}'))) runner.setInput(name, value);
runner.run();
