/**
 * Finds a pipeline run and one of its artifacts through Azure DevOps' Build REST API, with
 * azure-devops-node-api: Definitions - List (the pipeline by name or id), Builds - List (the newest
 * successful run, optionally on a branch and with a tag), Builds - Get (a pinned run) and
 * Artifacts - Get Artifact (its download URL).
 */
import { BuildApi } from 'azure-devops-node-api/BuildApi';
import { getBearerHandler, getPersonalAccessTokenHandler } from 'azure-devops-node-api/WebApi';
import { type Build, BuildQueryOrder, BuildResult, BuildStatus } from 'azure-devops-node-api/interfaces/BuildInterfaces';
import { InputError, RemoteError, TaskError } from '../errors';
import { forbiddenError, unauthorizedError, type DevOpsCredential } from './credential';
import type { Log } from '../log';

/** Which run: the newest successful one, or the run the user pinned. */
export type RunSelection = { readonly kind: 'latest' } | { readonly kind: 'pinned'; readonly runId: number };

export interface ArtifactQuery {
  /** System.CollectionUri, e.g. https://dev.azure.com/contoso/ */
  readonly collectionUri: string;
  /** The project the pipeline lives in: input project (name or id), or the job's own (System.TeamProjectId). */
  readonly project: string;
  /** Pipeline name or numeric id, as the user typed it. */
  readonly pipeline: string;
  readonly artifactName: string;
  /** refs/heads/... (or refs/tags/..., refs/pull/...). */
  readonly branch?: string;
  readonly runTag?: string;
  readonly run: RunSelection;
  readonly retries: number;
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

/** A Build API client: Bearer for the job's access token, Basic for a service connection's PAT. */
export function buildApi(collectionUri: string, credential: DevOpsCredential, retries: number): BuildApi {
  const handler = credential.kind === 'pat' ? getPersonalAccessTokenHandler(credential.token) : getBearerHandler(credential.token);
  return new BuildApi(collectionUri, [handler], { socketTimeout: 60_000, allowRetries: true, maxRetries: retries, allowRedirects: false });
}

export async function resolvePipelineArtifact(api: BuildApi, query: ArtifactQuery, log: Log): Promise<ResolvedArtifact> {
  const definition = await call(query, 'Definitions - List', () => findDefinition(api, query));
  const runs = query.run.kind === 'pinned' ? [await pinnedRun(api, query, definition.id, query.run.runId)] : await latestRuns(api, query, definition.id);
  for (const run of runs) {
    const artifact = await call(query, 'Artifacts - Get Artifact', () => api.getArtifact(query.project, run.id!, query.artifactName));
    const downloadUrl = artifact?.resource?.downloadUrl;
    if (!artifact || !downloadUrl) {
      log.debug(`run ${run.id} (${run.buildNumber}) has no artifact '${query.artifactName}'`);
      if (query.run.kind === 'pinned') throw await artifactMissing(api, query, run);
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
  if (matches.length === 0) throw new InputError('pipeline', 'PipelineNotFound', [query.pipeline, query.project]);
  if (matches.length > 1) {
    const listed = matches.map((d) => `${d.path ?? '\\'}\\${d.name} (id ${d.id})`.replace(/\\\\+/g, '\\')).join(', ');
    throw new InputError('pipeline', 'PipelineAmbiguous', [query.pipeline, listed]);
  }
  return { id: matches[0].id!, name: matches[0].name ?? query.pipeline };
}

async function latestRuns(api: BuildApi, query: ArtifactQuery, definitionId: number): Promise<Build[]> {
  const runs = await call(query, 'Builds - List', () =>
    api.getBuilds(query.project, [definitionId], undefined, undefined, undefined, undefined, undefined, undefined, BuildStatus.Completed, BuildResult.Succeeded,
      query.runTag ? [query.runTag] : undefined, undefined, RUNS_CHECKED, undefined, undefined, undefined, BuildQueryOrder.FinishTimeDescending, query.branch));
  if (!runs || runs.length === 0) throw new TaskError('PipelineNoSuccessfulRun', [query.pipeline, query.branch ?? 'any branch', query.runTag ?? '(none)']);
  return runs;
}

async function pinnedRun(api: BuildApi, query: ArtifactQuery, definitionId: number, runId: number): Promise<Build> {
  const run = await call(query, 'Builds - Get', () => api.getBuild(query.project, runId));
  if (!run) throw new InputError('version', 'PipelineRunNotFound', [runId, query.pipeline]);
  if (run.definition?.id !== definitionId) throw new InputError('version', 'PipelineRunOfOtherPipeline', [runId, run.definition?.name ?? '?', query.pipeline]);
  if (run.status !== BuildStatus.Completed) throw new InputError('version', 'PipelineRunNotCompleted', [runId, BuildStatus[run.status ?? 0]]);
  return run;
}

async function artifactMissing(api: BuildApi, query: ArtifactQuery, run: Build): Promise<TaskError> {
  const artifacts = await call(query, 'Artifacts - List', () => api.getArtifacts(query.project, run.id!));
  const names = (artifacts ?? []).map((artifact) => artifact.name).filter(Boolean).join(', ') || '(none)';
  return new InputError('artifactName', 'PipelineArtifactNotFound', [query.artifactName, run.id, run.buildNumber, names]);
}

/** Runs one REST call and says which one failed, and why, in terms the user can act on. */
async function call<T>(query: ArtifactQuery, operation: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof TaskError) throw error;
    const status = (error as { statusCode?: number }).statusCode;
    const detail = String((error as Error)?.message ?? error).split(/\r?\n/)[0].slice(0, 300);
    if (status === 401) throw unauthorizedError(query.credential, operation, query.collectionUri);
    if (status === 403) throw forbiddenError(query.credential, operation, query.pipeline, detail);
    const code = (error as { code?: string }).code;
    throw new RemoteError('DevOpsRequestFailed', [operation, query.collectionUri, status ?? code ?? 'error', detail], { cause: error });
  }
}
