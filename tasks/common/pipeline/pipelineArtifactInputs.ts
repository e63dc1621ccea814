import { FetchLatestModelInputs as INPUTS } from '../contract/fetchLatestModel';
import type { RunSelection } from '../devops/builds';
import { InputError } from './inputError';
import type { PipelineArtifactAccess } from '../model/pipelineArtifactStore';
import type { SelectionRule } from '../model/select';
import type { RetryPolicy } from '../net/retry';
import type { Agent } from './agent';
import { readDevOpsTarget } from './devOpsTarget';
import { type FetchSettings, type Source, type StoreInputs, whenPicked } from './fetchStoreInputs';
import { requiredInput } from './inputs';

export interface ArtifactInputContext {
  readonly rule: SelectionRule;
  /** modelPrefix, normalized: where the model sits inside the artifact. */
  readonly prefix: string;
  readonly scratchFolder: string;
  readonly retry: RetryPolicy;
}

/** Which input carries each setting of a pipeline artifact store; a pinned version is a run id. */
const ARTIFACT_SETTINGS = {
  devopsConnection: INPUTS.azureDevOpsConnection.name,
  pipeline: INPUTS.pipeline.name,
  artifactName: INPUTS.artifactName.name,
  pipelineRun: INPUTS.version.name,
} satisfies FetchSettings;

const SOURCE = 'pipelineArtifact' satisfies Source;
const WHEN = whenPicked(INPUTS.source, SOURCE);

/**
 * The inputs of source pipelineArtifact. The run is chosen here, not by version: the newest
 * successful run (highestVersion and newest both mean that), or `version` as a pinned run id.
 */
export function readPipelineArtifactAccess(agent: Agent, context: ArtifactInputContext): StoreInputs {
  const target = readDevOpsTarget(agent);
  const artifact: PipelineArtifactAccess = {
    collectionUri: target.collectionUri,
    project: target.project,
    credential: target.credential,
    pipeline: pipelineInput(agent),
    artifactName: artifactNameInput(agent),
    branch: branchInput(agent),
    runTag: runTagInput(agent),
    run: runSelection(context.rule),
    modelPrefix: context.prefix,
    scratchFolder: context.scratchFolder,
    retry: context.retry,
  };
  return { access: { kind: 'pipelineArtifact', artifact: Object.freeze(artifact) }, settings: ARTIFACT_SETTINGS };
}

function runSelection(rule: SelectionRule): RunSelection {
  switch (rule.kind) {
    case 'tagQuery':
      throw new InputError(INPUTS.selection.name, 'SelectionNotForSource', [rule.kind, SOURCE, INPUTS.runTag.name]);
    case 'pinned': {
      const name = INPUTS.version.name;
      if (!/^[1-9]\d{0,9}$/.test(rule.version)) throw new InputError(name, 'InputInvalid', [name, rule.version, `with source ${SOURCE}, a pinned version is a run id: the number in the run's URL (buildId=...)`]);
      return { kind: 'pinned', runId: Number(rule.version) };
    }
    default:
      return { kind: 'latest' };
  }
}

function pipelineInput(agent: Agent): string {
  const name = INPUTS.pipeline.name;
  const pipeline = requiredInput(agent, INPUTS.pipeline, WHEN);
  if (pipeline.length > 260 || /[*?"<>|]/.test(pipeline)) throw new InputError(name, 'InputInvalid', [name, pipeline, 'use the pipeline\'s name as shown under Pipelines, or its numeric id (definitionId=...)']);
  return pipeline;
}

/** Artifact names cannot hold path or wildcard characters (PublishPipelineArtifact refuses them too). */
function artifactNameInput(agent: Agent): string {
  const name = INPUTS.artifactName.name;
  const artifactName = requiredInput(agent, INPUTS.artifactName, WHEN);
  if (artifactName.length > 255 || /[\\/:*?"<>|]/.test(artifactName)) throw new InputError(name, 'InputInvalid', [name, artifactName, 'an artifact name has no \\ / : * ? " < > | characters']);
  return artifactName;
}

/** A branch name or a full ref; git's ref rules decide what is a typo. */
function branchInput(agent: Agent): string | undefined {
  const name = INPUTS.branch.name;
  const branch = agent.input(name);
  if (branch === undefined) return undefined;
  const ref = branch.startsWith('refs/') ? branch : `refs/heads/${branch}`;
  if (/[\s~^:?*[\\]|\.\.|@\{|\/\/|\/$|\.lock$|^refs\/heads\/$/.test(ref) || /(^|\/)\./.test(ref)) {
    throw new InputError(name, 'InputInvalid', [name, branch, 'use a branch name such as main or release/2.0, or a full ref such as refs/heads/main']);
  }
  return ref;
}

function runTagInput(agent: Agent): string | undefined {
  const name = INPUTS.runTag.name;
  const tag = agent.input(name);
  if (tag !== undefined && (tag.includes(',') || tag.length > 256)) throw new InputError(name, 'InputInvalid', [name, tag, 'use one tag, without commas']);
  return tag;
}
