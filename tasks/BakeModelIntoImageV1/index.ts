/**
 * BakeModelIntoImage@1: put the model into the app's container image and push it, then output the
 * image digest for Deploy. Thin by design: read inputs, call the core once, publish outputs.
 * Errors are reported by runTask.
 */
import { formatBytes } from '../common/bytes';
import { BakeModelIntoImageOutputs as Outputs } from '../common/contract/bakeModelIntoImage';
import { dockerBuild, type DockerBuildResult } from '../common/dockerfile/dockerBuild';
import { bakeModel, type AppendLayerResult, type BakeContext } from '../common/oci/bake';
import { runTask, type Agent } from '../common/pipeline/agent';
import { readBakeInputs } from '../common/pipeline/bakeInputs';
import { transferProgress } from '../common/pipeline/progress';
import { markdownSummary } from '../common/pipeline/summary';

type BakeResult = AppendLayerResult | DockerBuildResult;

export async function run(): Promise<void> {
  await runTask(__dirname, readBakeInputs, async (inputs, agent) => {
    const context: BakeContext = { log: agent.log, progress: transferProgress(agent), onSecret: (value) => agent.setSecret(value), network: agent.network(), lifetime: agent.lifetime };
    const result = inputs.mode === 'appendLayer' ? await bakeModel(inputs.options, context) : await dockerBuild(inputs.options, context);
    publish(agent, result, inputs.options.bake.modelVersion);
    return agent.loc('BakeSucceeded', inputs.options.bake.modelVersion ?? inputs.options.modelPath, result.imageRef);
  });
}

/** Only appendLayer knows the base and the bytes it moved; the build engine reports neither. */
function modeRows(result: BakeResult): [string, string][] {
  if (result.mode === 'dockerBuild') return [['Base digest', '(built from Dockerfile)'], ['Platforms', '(as built)'], ['Uploaded', '(by the build engine)'], ['Reused', '(by the build engine)']];
  return [['Base digest', result.baseDigest], ['Platforms', result.platforms.join(', ')], ['Uploaded', formatBytes(result.bytesUploaded)], ['Reused', formatBytes(result.bytesReused)]];
}

function publish(agent: Agent, result: BakeResult, modelVersion: string | undefined): void {
  agent.setOutput(Outputs.imageRef, result.imageRef);
  agent.setOutput(Outputs.imageDigest, result.digest);
  agent.setOutput(Outputs.imageTags, result.tags.join(','));
  agent.setOutput(Outputs.modelLayerDigests, result.modelLayerDigests.join(','));
  agent.setOutput(Outputs.provenanceDigest, result.attestation?.provenanceDigest ?? '');
  agent.setOutput(Outputs.signatureDigest, result.attestation?.signatureDigest ?? '');
  if (result.mode === 'appendLayer') {
    agent.setOutput(Outputs.bytesUploaded, String(result.bytesUploaded));
    agent.setOutput(Outputs.bytesReused, String(result.bytesReused));
  }
  const title = agent.loc('SummaryTitleBake');
  agent.uploadSummary(title, markdownSummary(title, [
    ['Image', result.imageRef],
    ['Tags', result.tags.join(', ') || '(none: by digest only)'],
    ['Model version', modelVersion ?? '(not given)'],
    ['Model layers', result.modelLayerDigests.join(', ')],
    ...modeRows(result),
    ['Provenance', result.attestation ? `${result.attestation.provenanceDigest} (${result.attestation.subjects} subject(s))` : '(off)'],
    ['Signed by', result.attestation?.signer ? `${result.attestation.signer}: ${result.attestation.signatureDigest}` : '(not signed)'],
  ]));
}

void run();
