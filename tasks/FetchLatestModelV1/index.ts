/**
 * FetchLatestModel@1: find the newest approved model version in a model store, download it in
 * parallel, verify it, and output its path, version and digest. Thin by design: read inputs, call
 * the core once, publish outputs. Errors are reported by runTask.
 */
import { formatBytes } from '../common/bytes';
import { FetchLatestModelOutputs as OUTPUTS } from '../common/contract/fetchLatestModel';
import { fetchLatestModel, type FetchedModel } from '../common/model/fetch';
import { openModelStore } from '../common/model/openStore';
import { runTask, type Agent } from '../common/pipeline/agent';
import { readFetchInputs } from '../common/pipeline/fetchInputs';
import { transferProgress } from '../common/pipeline/progress';
import { markdownSummary } from '../common/pipeline/summary';

export async function run(): Promise<void> {
  await runTask(__dirname, readFetchInputs, async (inputs, agent) => {
    const context = { log: agent.log, progress: transferProgress(agent), registerSecret: agent.setSecret, network: agent.network(), lifetime: agent.lifetime };
    const store = await openModelStore(inputs.access, context);
    try {
      const model = await fetchLatestModel(store, inputs.fetch, context);
      publish(agent, model);
      return agent.loc('FetchSucceeded', model.name, model.version, model.digest);
    } finally {
      await store.close?.();
    }
  });
}

function publish(agent: Agent, model: FetchedModel): void {
  agent.setOutput(OUTPUTS.modelPath, model.path);
  agent.setOutput(OUTPUTS.modelName, model.name);
  agent.setOutput(OUTPUTS.modelVersion, model.version);
  agent.setOutput(OUTPUTS.modelDigest, model.digest);
  agent.setOutput(OUTPUTS.modelUri, model.uri);
  agent.setOutput(OUTPUTS.modelSize, String(model.size));
  agent.setOutput(OUTPUTS.modelFiles, String(model.files));
  const title = agent.loc('SummaryTitleFetch');
  agent.uploadSummary(title, markdownSummary(title, [
    ['Model', model.name],
    ['Version', model.version],
    ['Digest', model.digest],
    ['Source', model.uri],
    ['Files', `${model.files} (${formatBytes(model.size)})`],
    ['Path', model.path],
    ['Verified', model.verified ? 'published digest checked' : 'size only (no published digest)'],
    ['Cache', model.fromCache ? 'hit' : 'miss'],
  ]));
}

void run();
