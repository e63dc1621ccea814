import type { RunSelection } from '../devops/builds';
import { InputError } from '../errors';
import type { StoreAccess } from '../model/openStore';
import type { PipelineArtifactAccess } from '../model/pipelineArtifactStore';
import type { SelectionRule } from '../model/select';
import type { Agent } from './agent';
import { readDevOpsTarget } from './devOpsTarget';
import { requiredInput } from './inputs';

export interface ArtifactInputContext {
  readonly rule: SelectionRule;
  /** modelPrefix, normalized: where the model sits inside the artifact. */
  readonly prefix: string;
  readonly scratchFolder: string;
  readonly retries: number;
}

/**
 * The inputs of source pipelineArtifact. The run is chosen here, not by version: the newest
 * successful run (highestVersion and newest both mean that), or `version` as a pinned run id.
 */
export function readPipelineArtifactAccess(agent: Agent, context: ArtifactInputContext): StoreAccess {
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
    retries: context.retries,
    retryDelayMs: 500,
  };
  return { kind: 'pipelineArtifact', artifact: Object.freeze(artifact) };
}

function runSelection(rule: SelectionRule): RunSelection {
  switch (rule.kind) {
    case 'tagQuery':
      throw new InputError('selection', 'SelectionNotForSource', ['tagQuery', 'pipelineArtifact', 'runTag']);
    case 'pinned':
      if (!/^[1-9]\d{0,9}$/.test(rule.version)) throw new InputError('version', 'InputInvalid', ['version', rule.version, 'with source pipelineArtifact, a pinned version is a run id: the number in the run\'s URL (buildId=...)']);
      return { kind: 'pinned', runId: Number(rule.version) };
    default:
      return { kind: 'latest' };
  }
}

function pipelineInput(agent: Agent): string {
  const pipeline = requiredInput(agent, 'pipeline', "source is 'pipelineArtifact'");
  if (pipeline.length > 260 || /[*?"<>|]/.test(pipeline)) throw new InputError('pipeline', 'InputInvalid', ['pipeline', pipeline, 'use the pipeline\'s name as shown under Pipelines, or its numeric id (definitionId=...)']);
  return pipeline;
}

/** Artifact names cannot hold path or wildcard characters (PublishPipelineArtifact refuses them too). */
function artifactNameInput(agent: Agent): string {
  const name = requiredInput(agent, 'artifactName', "source is 'pipelineArtifact'");
  if (name.length > 255 || /[\\/:*?"<>|]/.test(name)) throw new InputError('artifactName', 'InputInvalid', ['artifactName', name, 'an artifact name has no \\ / : * ? " < > | characters']);
  return name;
}

/** A branch name or a full ref; git's ref rules decide what is a typo. */
function branchInput(agent: Agent): string | undefined {
  const branch = agent.input('branch');
  if (branch === undefined) return undefined;
  const ref = branch.startsWith('refs/') ? branch : `refs/heads/${branch}`;
  if (/[\s~^:?*[\\]|\.\.|@\{|\/\/|\/$|\.lock$|^refs\/heads\/$/.test(ref) || /(^|\/)\./.test(ref)) {
    throw new InputError('branch', 'InputInvalid', ['branch', branch, 'use a branch name such as main or release/2.0, or a full ref such as refs/heads/main']);
  }
  return ref;
}

function runTagInput(agent: Agent): string | undefined {
  const tag = agent.input('runTag');
  if (tag !== undefined && (tag.includes(',') || tag.length > 256)) throw new InputError('runTag', 'InputInvalid', ['runTag', tag, 'use one tag, without commas']);
  return tag;
}
