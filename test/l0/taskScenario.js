// One MockTestRunner scenario for any task: the task folder comes from L0_TASK and the inputs from
// L0_INPUTS (JSON), so each L0 test describes its case without a file of its own. Runs the L0
// bundle (task-lib external, so the mock runner can stand in for it).
const path = require('node:path');
const { TaskMockRunner } = require('azure-pipelines-task-lib/mock-run');

const runner = new TaskMockRunner(path.join(__dirname, '..', '..', 'dist', 'l0', process.env.L0_TASK, 'index.js'));
for (const [name, value] of Object.entries(JSON.parse(process.env.L0_INPUTS || '{}'))) runner.setInput(name, value);
runner.run();
