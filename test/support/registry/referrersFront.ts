/**
 * The OCI 1.1 referrers API that Debian's docker-registry 2.8 lacks, as ACR serves it: a front
 * before a plain-http registry that passes every request on, and for each manifest put with a
 * `subject` answers with the OCI-Subject header and remembers it, so that
 * GET /v2/<repo>/referrers/<digest>[?artifactType=] lists it (with OCI-Filters-Applied when filtered).
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReferrersFront {
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly url: string;
  /** Referrers API calls answered here, in order. */
  readonly listings: string[];
  close(): Promise<void>;
}

interface Listed {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startReferrersFront(upstreamPort: number): Promise<ReferrersFront> {
  const referrers = new Map<string, Listed[]>();
  const listings: string[] = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    const listing = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (req.method === 'GET' && listing) {
      listings.push(`${listing[1]}@${listing[2]}`);
      const artifactType = url.searchParams.get('artifactType');
      const all = referrers.get(`${listing[1]}@${listing[2]}`) ?? [];
      const manifests = artifactType ? all.filter((entry) => entry.artifactType === artifactType) : all;
      const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', ...(artifactType ? { 'oci-filters-applied': 'artifactType' } : {}) }).end(body);
      return;
    }
    const body = await readBody(req);
    const headers = { ...req.headers };
    delete headers.connection;
    const outgoing = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent: false }, (answer) => {
      const put = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(url.pathname);
      const extra: Record<string, string> = {};
      if (req.method === 'PUT' && put && answer.statusCode === 201) {
        const manifest = JSON.parse(body.toString('utf8')) as { mediaType: string; artifactType?: string; subject?: { digest: string }; annotations?: Record<string, string>; config?: { mediaType: string } };
        if (manifest.subject) {
          const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
          const key = `${put[1]}@${manifest.subject.digest}`;
          const list = referrers.get(key) ?? [];
          if (!list.some((entry) => entry.digest === digest)) list.push({ mediaType: manifest.mediaType, digest, size: body.length, artifactType: manifest.artifactType ?? manifest.config?.mediaType, ...(manifest.annotations ? { annotations: manifest.annotations } : {}) });
          referrers.set(key, list);
          extra['oci-subject'] = manifest.subject.digest;
        }
      }
      res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...extra });
      answer.pipe(res);
    });
    outgoing.on('error', () => res.destroy());
    outgoing.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    listings,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
