/**
 * One organization of the Azure DevOps stand-in (pipelinesStandIn.ts): the Build REST API's
 * answers in their documented shapes, and the artifact host's zip downloads. Authentication and
 * routing between organizations live in pipelinesStandIn.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './standInServer';
import { type ZipInput, writeZip } from './zipWriter';

export interface RunSpec {
  readonly id: number;
  readonly definitionId: number;
  readonly buildNumber: string;
  readonly result?: 'succeeded' | 'partiallySucceeded' | 'failed' | 'canceled';
  readonly status?: 'completed' | 'inProgress';
  readonly branch?: string;
  readonly tags?: readonly string[];
  readonly finishTime: Date;
  /**
   * Artifact name -> its files (the zip holds them under the artifact's top folder), or a zip
   * served as it is (a hostile one: a bomb, a lying entry count, unsafe names).
   */
  readonly artifacts?: Readonly<Record<string, readonly ZipInput[] | { readonly zip: Buffer }>>;
  /** The artifactsize the service reports for this run's artifacts, instead of their real size. */
  readonly reportedSize?: number;
}

/** What the organizations on one host share: its origins and the faults it is told to inject. */
export interface SharedHost {
  apiOrigin: string;
  downloadOrigin: string;
  /** Whether the artifact host answers Range requests with 206. */
  ranges: boolean;
  readonly faults: { count: number; status: number };
  /** When set, downloads redirect to signed URLs on this origin (another host name). */
  signedOrigin?: string;
  /** Signature -> the zip it unlocks. */
  readonly signed: Map<string, Buffer>;
}

/** An organization with one project, its pipelines and their runs. */
export interface OrganizationSpec {
  readonly organization: string;
  readonly projectName?: string;
  readonly definitions: readonly { id: number; name: string; path?: string }[];
  readonly runs: readonly RunSpec[];
}

const LOCATIONS = [
  { id: '0cd358e1-9217-4d94-8269-1c1ee6f93dcf', resourceName: 'builds', routeTemplate: '{project}/_apis/{area}/{resource}/{buildId}', resourceVersion: 7 },
  { id: '1db06c96-014e-44e1-ac91-90b2d4b3e984', resourceName: 'artifacts', routeTemplate: '{project}/_apis/{area}/builds/{buildId}/{resource}', resourceVersion: 5 },
  { id: 'dbeaf647-6167-421a-bda9-c9327b25e2e6', resourceName: 'definitions', routeTemplate: '{project}/_apis/{area}/{resource}/{definitionId}', resourceVersion: 7 },
].map((location) => ({ ...location, area: 'build', minVersion: '2.0', maxVersion: '7.2', releasedVersion: '7.1' }));

const STATUS: Record<string, string> = { '1': 'inProgress', '2': 'completed', '4': 'cancelling', '8': 'postponed', '32': 'notStarted' };
const RESULT: Record<string, string> = { '2': 'succeeded', '4': 'partiallySucceeded', '8': 'failed', '32': 'canceled' };
const ORDER: Record<string, string> = { '2': 'finishTimeAscending', '3': 'finishTimeDescending', '4': 'queueTimeDescending', '5': 'queueTimeAscending' };

/** The error body Azure DevOps sends (a serialized VssServiceException). */
export function vssError(res: ServerResponse, status: number, typeKey: string, message: string): void {
  sendJson(res, status, { $id: '1', innerException: null, message, typeName: `Microsoft.TeamFoundation.Build.WebApi.${typeKey}, Microsoft.TeamFoundation.Build2.WebApi`, typeKey, errorCode: 0, eventId: 3000 });
}

/** An enum filter given by name or by number (flags enums: any listed name). */
function enumFilter(value: string | null, names: Record<string, string>): string | undefined {
  if (value === null) return undefined;
  return (names[value] ?? value).toLowerCase();
}

type Definition = OrganizationSpec['definitions'][number];

/** One organization's Build service: its state and its answers. The stand-in routes requests to it. */
export class BuildService {
  readonly organization: string;
  readonly projectName: string;
  readonly projectId = randomUUID();
  private readonly zips = new Map<string, Buffer>();

  constructor(
    private readonly options: OrganizationSpec,
    private readonly host: SharedHost,
  ) {
    this.organization = options.organization;
    this.projectName = options.projectName ?? 'models';
  }

  private project() {
    return { id: this.projectId, name: this.projectName, url: `${this.host.apiOrigin}/${this.organization}/_apis/projects/${this.projectId}`, state: 'wellFormed', visibility: 'private' };
  }

  private definitionJson(d: Definition) {
    return { id: d.id, name: d.name, path: d.path ?? '\\', type: 'build', queueStatus: 'enabled', revision: 1, project: this.project(), url: `${this.host.apiOrigin}/${this.organization}/${this.projectId}/_apis/build/Definitions/${d.id}` };
  }

  private buildJson(run: RunSpec) {
    const definition = this.options.definitions.find((d) => d.id === run.definitionId)!;
    const at = (msBefore: number) => new Date(run.finishTime.getTime() - msBefore).toISOString();
    return {
      id: run.id, buildNumber: run.buildNumber, status: run.status ?? 'completed', result: run.result ?? 'succeeded',
      queueTime: at(120_000), startTime: at(60_000), finishTime: at(0), url: `${this.host.apiOrigin}/${this.organization}/${this.projectId}/_apis/build/Builds/${run.id}`,
      definition: this.definitionJson(definition), project: this.project(), sourceBranch: run.branch ?? 'refs/heads/main', sourceVersion: 'a1b2c3d4',
      tags: run.tags ?? [], reason: 'manual', priority: 'normal', retainedByRelease: false,
    };
  }

  /** A PipelineArtifact as Artifacts - Get Artifact returns it; its zip is made once and kept. */
  private artifactJson(run: RunSpec, name: string, index: number) {
    const files = run.artifacts![name];
    const id = Buffer.from(`pipelineartifact://${this.organization}/projectId/${this.projectId}/buildId/${run.id}/artifactName/${name}`).toString('base64url');
    if (!this.zips.has(id)) this.zips.set(id, 'zip' in files ? files.zip : writeZip(files.map((file) => ({ ...file, name: `${name}/${file.name}` }))));
    const size = run.reportedSize ?? ('zip' in files ? files.zip.length : files.reduce((sum, file) => sum + file.data.length, 0));
    return {
      id: run.id * 100 + index, name, source: randomUUID(),
      resource: {
        type: 'PipelineArtifact', data: `${run.id}/${name}`,
        properties: { RootId: id, artifactsize: String(size), HashType: 'DEDUP1024K', DomainId: '0' },
        url: `${this.host.apiOrigin}/${this.organization}/${this.projectId}/_apis/build/builds/${run.id}/artifacts?artifactName=${encodeURIComponent(name)}&api-version=7.1`,
        downloadUrl: `${this.host.downloadOrigin}/${this.organization}/${this.projectId}/_apis/artifact/${id}/content?format=zip`,
      },
    };
  }

  private listDefinitions(url: URL, res: ServerResponse): void {
    const name = url.searchParams.get('name');
    const ids = url.searchParams.get('definitionIds')?.split(',').map(Number);
    // The name filter takes * as a wildcard, as the service's does.
    const pattern = name ? new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i') : undefined;
    const found = this.options.definitions.filter((d) => (!pattern || pattern.test(d.name)) && (!ids || ids.includes(d.id)));
    sendJson(res, 200, { count: found.length, value: found.map((d) => this.definitionJson(d)) });
  }

  private listBuilds(url: URL, res: ServerResponse): void {
    const query = url.searchParams;
    const definitions = query.get('definitions')?.split(',').map(Number);
    const status = enumFilter(query.get('statusFilter'), STATUS);
    const result = enumFilter(query.get('resultFilter'), RESULT);
    const tags = query.get('tagFilters')?.split(',').filter(Boolean) ?? [];
    const branch = query.get('branchName');
    const order = enumFilter(query.get('queryOrder'), ORDER) ?? 'queuetimedescending';
    const runs = this.options.runs
      .filter((run) => !definitions || definitions.includes(run.definitionId))
      .filter((run) => !status || (run.status ?? 'completed').toLowerCase() === status)
      .filter((run) => !result || (run.result ?? 'succeeded').toLowerCase() === result)
      .filter((run) => tags.every((tag) => run.tags?.includes(tag)))
      .filter((run) => !branch || (run.branch ?? 'refs/heads/main') === branch)
      .sort((a, b) => (order.endsWith('ascending') ? 1 : -1) * (a.finishTime.getTime() - b.finishTime.getTime()))
      .slice(0, Number(query.get('$top') ?? '1000'));
    sendJson(res, 200, { count: runs.length, value: runs.map((run) => this.buildJson(run)) });
  }

  private runResource(id: string, artifacts: boolean, url: URL, res: ServerResponse): void {
    const run = this.options.runs.find((candidate) => candidate.id === Number(id));
    if (!run) return vssError(res, 404, 'BuildNotFoundException', `Build ${id} was not found.`);
    if (!artifacts) return sendJson(res, 200, this.buildJson(run));
    const names = Object.keys(run.artifacts ?? {});
    const wanted = url.searchParams.get('artifactName');
    if (wanted === null) return sendJson(res, 200, { count: names.length, value: names.map((name, index) => this.artifactJson(run, name, index)) });
    const index = names.findIndex((name) => name.toLowerCase() === wanted.toLowerCase());
    if (index < 0) return vssError(res, 404, 'ArtifactNotFoundException', `Artifact ${wanted} was not found for build ${id}.`);
    sendJson(res, 200, this.artifactJson(run, names[index], index));
  }

  api(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method === 'OPTIONS' && url.pathname === `/${this.organization}/_apis/build`) return sendJson(res, 200, { count: LOCATIONS.length, value: LOCATIONS });
    const match = new RegExp(`^/${this.organization}/([^/]+)/_apis/build/(definitions|builds)(?:/(\\d+))?(/artifacts)?$`).exec(url.pathname);
    if (req.method !== 'GET' || !match) return vssError(res, 404, 'NotFoundException', `The stand-in has no ${req.method} ${url.pathname}`);
    const [, projectKey, collection, id, artifacts] = match;
    const project = decodeURIComponent(projectKey);
    if (project !== this.projectId && project.toLowerCase() !== this.projectName.toLowerCase()) {
      return vssError(res, 404, 'ProjectDoesNotExistWithNameException', `TF200016: The following project does not exist: ${project}.`);
    }
    if (collection === 'definitions') return this.listDefinitions(url, res);
    if (!id) return this.listBuilds(url, res);
    this.runResource(id, Boolean(artifacts), url, res);
  }

  /**
   * The artifact host: the zip, whole or from a Range offset, unless a fault is due. With signed
   * downloads on, a 302 to a signed URL on another host instead, as a service handing off to blob
   * storage does: the credential must not follow it.
   */
  download(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const match = new RegExp(`^/${this.organization}/${this.projectId}/_apis/artifact/([^/]+)/content$`).exec(url.pathname);
    const zip = match ? this.zips.get(match[1]) : undefined;
    if (!zip || url.searchParams.get('format') !== 'zip') return vssError(res, 404, 'ArtifactNotFoundException', 'The artifact was not found.');
    if (this.host.faults.count > 0) {
      this.host.faults.count--;
      return vssError(res, this.host.faults.status, 'ServiceUnavailableException', 'The service is temporarily unavailable (stand-in fault).');
    }
    if (this.host.signedOrigin) {
      const sig = randomBytes(24).toString('base64url');
      this.host.signed.set(sig, zip);
      res.writeHead(302, { location: `${this.host.signedOrigin}/artifacts/${match![1]}.zip?sv=2024-11-04&sr=b&sp=r&sig=${sig}` });
      return void res.end();
    }
    serveZip(req, res, zip, this.host.ranges);
  }
}

/** A zip, whole or from a Range offset (206) when ranges are supported. */
export function serveZip(req: IncomingMessage, res: ServerResponse, zip: Buffer, ranges: boolean): void {
  const range = ranges ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
  const start = range ? Number(range[1]) : 0;
  const headers = { 'content-type': 'application/zip', 'content-length': String(zip.length - start), 'accept-ranges': ranges ? 'bytes' : 'none' };
  if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${zip.length - 1}/${zip.length}` });
  else res.writeHead(200, headers);
  res.end(zip.subarray(start));
}
