/**
 * Finds a pipeline run and one of its artifacts through Azure DevOps' Build REST API, with
 * azure-devops-node-api: Definitions - List (the pipeline by name or id), Builds - List (the newest
 * successful run, optionally on a branch and with a tag), Builds - Get (a pinned run) and
 * Artifacts - Get Artifact (its download URL).
 */
import { BuildApi } from 'azure-devops-node-api/BuildApi';
import { type Build, BuildQueryOrder, BuildResult, BuildStatus } from 'azure-devops-node-api/interfaces/BuildInterfaces';
import { RemoteError, SettingError, TaskError } from '../errors';
import { forbiddenError, unauthorizedError, type DevOpsCredential, type DevOpsSetting } from './credential';
import { devOpsApi, devOpsVerdict, requestHandler, statusOf } from './http';
import type { Log } from '../log';
import type { MessageKey } from '../messages';
import { DEVOPS_CLIENT_OPTIONS } from '../net/adapters/devopsHttp';
import { StoppedError } from '../net/errors';
import type { Network } from '../net/network';
import { type RetryPolicy, retry } from '../net/retry';

/** Which run: the newest successful one, or the run the user pinned. */
export type RunSelection = { readonly kind: 'latest' } | { readonly kind: 'pinned'; readonly runId: number };

export interface ArtifactQuery {
  /** System.CollectionUri, e.g. https://dev.azure.com/contoso/ */
  readonly collectionUri: string;
  /** The project the pipeline lives in (name or id): the one the user named, or the job's own. */
  readonly project: string;
  /** Pipeline name or numeric id, as the user typed it. */
  readonly pipeline: string;
  readonly artifactName: string;
  /** refs/heads/... (or refs/tags/..., refs/pull/...). */
  readonly branch?: string;
  readonly runTag?: string;
  readonly run: RunSelection;
  /** How failed calls are tried again. */
  readonly retry: RetryPolicy;
  /** Which credential the calls carry, so a 401 or 403 names the one to fix. */
  readonly credential: DevOpsCredential;
}

export interface ResolvedArtifact {
  readonly projectName: string;
  readonly pipelineName: string;
  readonly runId: number;
  readonly buildNumber: string;
  readonly finishTime: Date;
  readonly artifactId: number;
  readonly downloadUrl: string;
  /** Size the service reports for the artifact (PipelineArtifact only), for progress. */
  readonly reportedSize?: number;
}

/** Newest successful runs checked for the artifact: a run may have skipped publishing it. */
const RUNS_CHECKED = 10;

/**
 * A Build API client on the collection URL: Bearer for the job's access token, Basic for a service
 * connection's PAT, sent through the network layer with no retries or redirects of its own.
 */
export function buildApi(collectionUri: string, credential: DevOpsCredential, network: Network, signal?: AbortSignal): BuildApi {
  return devOpsApi(new BuildApi(collectionUri, [requestHandler(credential)], DEVOPS_CLIENT_OPTIONS), network, signal);
}

export interface CallContext {
  readonly log: Log;
  readonly signal?: AbortSignal;
}

export async function resolvePipelineArtifact(api: BuildApi, query: ArtifactQuery, context: CallContext): Promise<ResolvedArtifact> {
  const call = caller(query, context);
  const definition = await call('Definitions - List', () => findDefinition(api, query));
  const runs = query.run.kind === 'pinned' ? [await pinnedRun(api, query, definition.id, query.run.runId, call)] : await latestRuns(api, query, definition.id, call);
  const log = context.log;
  for (const run of runs) {
    const artifact = await call('Artifacts - Get Artifact', () => api.getArtifact(query.project, run.id!, query.artifactName));
    const downloadUrl = artifact?.resource?.downloadUrl;
    if (!artifact || !downloadUrl) {
      log.debug(`run ${run.id} (${run.buildNumber}) has no artifact '${query.artifactName}'`);
      if (query.run.kind === 'pinned') throw await artifactMissing(api, query, run, call);
      continue;
    }
    const size = Number(artifact.resource?.properties?.artifactsize);
    return Object.freeze({
      projectName: run.project?.name ?? query.project,
      pipelineName: definition.name,
      runId: run.id!,
      buildNumber: run.buildNumber ?? String(run.id),
      finishTime: run.finishTime ?? new Date(0),
      artifactId: artifact.id ?? 0,
      downloadUrl,
      ...(Number.isFinite(size) && size > 0 ? { reportedSize: size } : {}),
    });
  }
  throw new TaskError('PipelineArtifactNotInRuns', [query.artifactName, definition.name, runs.map((run) => `${run.buildNumber} (run ${run.id})`).join(', ')]);
}

async function findDefinition(api: BuildApi, query: ArtifactQuery): Promise<{ id: number; name: string }> {
  const byId = /^\d+$/.test(query.pipeline);
  const found = byId
    ? await api.getDefinitions(query.project, undefined, undefined, undefined, undefined, undefined, undefined, undefined, [Number(query.pipeline)])
    : await api.getDefinitions(query.project, query.pipeline);
  // The name filter also takes wildcards: keep exact (case-insensitive) matches only.
  const matches = (found ?? []).filter((d) => d.id !== undefined && (byId ? d.id === Number(query.pipeline) : d.name?.toLowerCase() === query.pipeline.toLowerCase()));
  if (matches.length === 0) throw new SettingError<DevOpsSetting>('pipeline', 'PipelineNotFound', [query.pipeline, query.project]);
  if (matches.length > 1) {
    const listed = matches.map((d) => `${d.path ?? '\\'}\\${d.name} (id ${d.id})`.replace(/\\\\+/g, '\\')).join(', ');
    throw new SettingError<DevOpsSetting>('pipeline', 'PipelineAmbiguous', [query.pipeline, listed]);
  }
  return { id: matches[0].id!, name: matches[0].name ?? query.pipeline };
}

async function latestRuns(api: BuildApi, query: ArtifactQuery, definitionId: number, call: Call): Promise<Build[]> {
  const runs = await call('Builds - List', () =>
    api.getBuilds(query.project, [definitionId], undefined, undefined, undefined, undefined, undefined, undefined, BuildStatus.Completed, BuildResult.Succeeded,
      query.runTag ? [query.runTag] : undefined, undefined, RUNS_CHECKED, undefined, undefined, undefined, BuildQueryOrder.FinishTimeDescending, query.branch));
  if (!runs || runs.length === 0) throw new TaskError('PipelineNoSuccessfulRun', [query.pipeline, query.branch ?? 'any branch', query.runTag ?? '(none)']);
  return runs;
}

async function pinnedRun(api: BuildApi, query: ArtifactQuery, definitionId: number, runId: number, call: Call): Promise<Build> {
  const run = await call('Builds - Get', () => api.getBuild(query.project, runId));
  const wrongRun = (key: MessageKey, args: unknown[]) => new SettingError<DevOpsSetting>('pipelineRun', key, [runId, ...args]);
  if (!run) throw wrongRun('PipelineRunNotFound', [query.pipeline]);
  if (run.definition?.id !== definitionId) throw wrongRun('PipelineRunOfOtherPipeline', [run.definition?.name ?? '?', query.pipeline]);
  if (run.status !== BuildStatus.Completed) throw wrongRun('PipelineRunNotCompleted', [BuildStatus[run.status ?? 0]]);
  return run;
}

async function artifactMissing(api: BuildApi, query: ArtifactQuery, run: Build, call: Call): Promise<TaskError> {
  const artifacts = await call('Artifacts - List', () => api.getArtifacts(query.project, run.id!));
  const names = (artifacts ?? []).map((artifact) => artifact.name).filter(Boolean).join(', ') || '(none)';
  return new SettingError<DevOpsSetting>('artifactName', 'PipelineArtifactNotFound', [query.artifactName, run.id, run.buildNumber, names]);
}

type Call = <T>(operation: string, request: () => Promise<T>) => Promise<T>;

/**
 * Runs REST calls under the one retry policy (dropped connections, throttling and 5xx are tried
 * again) and says which one failed, and why, in terms the user can act on.
 */
function caller(query: ArtifactQuery, context: CallContext): Call {
  return async (operation, request) => {
    try {
      return await retry(request, query.retry, {
        signal: context.signal,
        classify: devOpsVerdict,
        onRetry: ({ attempt, attempts, error }) => context.log.debug(`${operation} failed (attempt ${attempt} of ${attempts}): ${(error as Error)?.message ?? error}`),
      });
    } catch (error) {
      throw explained(query, operation, error);
    }
  };
}

function explained(query: ArtifactQuery, operation: string, error: unknown): unknown {
  if (error instanceof TaskError || error instanceof StoppedError) return error;
  const status = statusOf(error);
  const detail = String((error as Error)?.message ?? error).split(/\r?\n/)[0].slice(0, 300);
  if (status === 401) return unauthorizedError(query.credential, operation, query.collectionUri);
  if (status === 403) return forbiddenError(query.credential, operation, query.pipeline, detail);
  const code = (error as { code?: string }).code;
  return new RemoteError('DevOpsRequestFailed', [operation, query.collectionUri, status ?? code ?? 'error', detail], { cause: error });
}
