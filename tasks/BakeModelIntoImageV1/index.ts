/**
 * BakeModelIntoImage@1: put the model into the app's container image and push it, then output the
 * image digest for Deploy. Thin by design: read inputs, call the core once, publish outputs.
 * Errors are reported by runTask.
 */
import { formatBytes } from '../common/bytes';
import { bakeModel, type BakeContext, type BakeResult } from '../common/oci/bake';
import { dockerBuild } from '../common/dockerfile/dockerBuild';
import { runTask, type Agent } from '../common/pipeline/agent';
import { readBakeInputs } from '../common/pipeline/bakeInputs';
import { transferProgress } from '../common/pipeline/progress';
import { markdownSummary } from '../common/pipeline/summary';

export async function run(): Promise<void> {
  await runTask(__dirname, readBakeInputs, async (inputs, agent) => {
    const context: BakeContext = { log: agent.log, progress: transferProgress(agent), onSecret: (value) => agent.setSecret(value), network: agent.network(), lifetime: agent.lifetime };
    const result = inputs.mode === 'appendLayer' ? await bakeModel(inputs.options, context) : await dockerBuild(inputs.options, context);
    publish(agent, result, inputs.options.bake.modelVersion);
    return agent.loc('BakeSucceeded', inputs.options.bake.modelVersion ?? inputs.options.modelPath, result.imageRef);
  });
}

function publish(agent: Agent, result: BakeResult, modelVersion: string | undefined): void {
  agent.setOutput('imageRef', result.imageRef);
  agent.setOutput('imageDigest', result.digest);
  agent.setOutput('imageTags', result.tags.join(','));
  agent.setOutput('modelLayerDigests', result.modelLayerDigests.join(','));
  if (result.bytesUploaded !== undefined) agent.setOutput('bytesUploaded', String(result.bytesUploaded));
  if (result.bytesReused !== undefined) agent.setOutput('bytesReused', String(result.bytesReused));
  const title = agent.loc('SummaryTitleBake');
  agent.uploadSummary(title, markdownSummary(title, [
    ['Image', result.imageRef],
    ['Tags', result.tags.join(', ') || '(none: by digest only)'],
    ['Model version', modelVersion ?? '(not given)'],
    ['Model layers', result.modelLayerDigests.join(', ')],
    ['Base digest', result.baseDigest || '(built from Dockerfile)'],
    ['Platforms', result.platforms.join(', ') || '(as built)'],
    ['Uploaded', result.bytesUploaded === undefined ? '(by the build engine)' : formatBytes(result.bytesUploaded)],
    ['Reused', result.bytesReused === undefined ? '(by the build engine)' : formatBytes(result.bytesReused)],
  ]));
}

void run();
