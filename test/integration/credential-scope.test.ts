/**
 * Where the Azure and Azure DevOps credentials may travel, against hostile peers on loopback: an
 * ARM that redirects or pages to another origin, or downgrades to http; an artifact host that
 * redirects the download elsewhere. Every peer records the Authorization header it was sent.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { findStorageAccountBlobEndpoint } from '../../tasks/common/azure/arm';
import { downloadArtifactZip } from '../../tasks/common/devops/artifactDownload';
import { devOpsCredential } from '../../tasks/common/devops/credential';
import { RemoteError } from '../../tasks/common/errors';
import { silentLog, silentProgress } from '../../tasks/common/log';
import { BodyTooLargeError, CredentialScopeError } from '../../tasks/common/net/errors';
import { Network } from '../../tasks/common/net/network';
import { retryPolicy } from '../../tasks/common/net/retry';
import { networkSettings } from '../../tasks/common/net/settings';
import { type RunningServer, sendJson, startServer } from '../support/standInServer';
import { createTestCa } from '../support/tls';

interface Recorded {
  readonly path: string;
  readonly authorization?: string;
}

interface Peer {
  readonly origin: string;
  readonly seen: Recorded[];
  respond: (req: IncomingMessage, res: ServerResponse, url: URL) => void;
}

const token = `arm-token-${Math.random().toString(36).slice(2)}`;
const credential: TokenCredential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const subscription = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';

describe('credentials stay on their own origin', function () {
  this.timeout(30_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'credential-scope-'));
  const ca = createTestCa(dir);
  const network = new Network(networkSettings({ tls: { ca: [fs.readFileSync(ca.caCert, 'utf8')] } }));
  const servers: RunningServer[] = [];
  const transport = { network, retry: retryPolicy({ attempts: 2, baseDelayMs: 10 }) };

  async function peer(tls: boolean): Promise<Peer> {
    const seen: Recorded[] = [];
    const created: Peer = { origin: '', seen, respond: (_req, res) => sendJson(res, 404, {}) };
    const server = await startServer((req, res, url) => {
      seen.push({ path: url.pathname, authorization: req.headers.authorization });
      created.respond(req, res, url);
    }, tls ? ca : undefined);
    servers.push(server);
    return Object.assign(created, { origin: server.origin });
  }

  after(async () => {
    network.close();
    await Promise.all(servers.map((server) => server.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const page = (accounts: string[], nextLink?: string) => ({ value: accounts.map((name) => ({ name, properties: { primaryEndpoints: { blob: `https://${name}.blob.core.windows.net/` } } })), ...(nextLink ? { nextLink } : {}) });
  const lookUp = (arm: Peer, accountName = 'modelstore') => findStorageAccountBlobEndpoint({ armUrl: `${arm.origin}/`, credential, subscriptionId: subscription, accountName, transport, connectionName: 'models-arm' });

  describe('Azure Resource Manager', () => {
    it('follows a redirect on its own origin with the token, and one to another origin without it', async () => {
      const arm = await peer(true);
      const elsewhere = await peer(true);
      arm.respond = (_req, res, url) => {
        if (url.pathname.startsWith('/moved')) return void res.writeHead(307, { location: `${elsewhere.origin}/list` }).end();
        res.writeHead(307, { location: `/moved${url.pathname}${url.search}` }).end();
      };
      elsewhere.respond = (_req, res) => sendJson(res, 200, page(['modelstore']));
      assert.equal(await lookUp(arm), 'https://modelstore.blob.core.windows.net/');
      assert.deepEqual(arm.seen.map((request) => request.authorization), [`Bearer ${token}`, `Bearer ${token}`]);
      assert.deepEqual(elsewhere.seen.map((request) => request.authorization), [undefined], 'the token did not follow the redirect to another origin');
    });

    it('refuses a redirect from https to plain http, sending nothing there', async () => {
      const arm = await peer(true);
      const plain = await peer(false);
      arm.respond = (_req, res) => void res.writeHead(302, { location: `${plain.origin}/list` }).end();
      await assert.rejects(lookUp(arm), (error) => error instanceof CredentialScopeError && /https to plain http/.test(error.message));
      assert.deepEqual(plain.seen, []);
    });

    it('refuses a next page on another origin before asking it', async () => {
      const arm = await peer(true);
      const elsewhere = await peer(true);
      arm.respond = (_req, res) => sendJson(res, 200, page(['alpha'], `${elsewhere.origin}/subscriptions/${subscription}/providers/Microsoft.Storage/storageAccounts?$skipToken=2`));
      await assert.rejects(lookUp(arm), (error) => error instanceof RemoteError && error.key === 'AzureArmRequestFailed' && /next page is on another host/.test(error.message));
      assert.deepEqual(elsewhere.seen, []);
    });

    it('stops reading a page larger than the ARM limit, naming the peer', async () => {
      const arm = await peer(true);
      arm.respond = (_req, res) => sendJson(res, 200, page(Array.from({ length: 90_000 }, (_, index) => `account${index}`.padEnd(180, 'x'))));
      await assert.rejects(lookUp(arm), (error) => error instanceof BodyTooLargeError && error.peer === new URL(arm.origin).host && error.limit === 16 * 1024 * 1024);
    });
  });

  describe('the pipeline artifact download', () => {
    const collectionOf = (origin: string) => `${origin}/contoso/`;
    const job = devOpsCredential('bearer', token);
    const zip = Buffer.from('PK\u0005\u0006'.padEnd(22, '\u0000'), 'latin1');

    async function download(collection: string, url: string): Promise<string> {
      const target = path.join(dir, `artifact-${Math.random().toString(36).slice(2)}.zip`);
      await downloadArtifactZip({ url, target, collectionUri: collection, credential: job, retry: transport.retry }, { network, signal: new AbortController().signal, log: silentLog, progress: silentProgress });
      return target;
    }

    it('sends the token to the artifact host the collection named, and not to where it redirects', async () => {
      const collection = await peer(true);
      const artifacts = await peer(true);
      const storage = await peer(true);
      artifacts.respond = (_req, res) => void res.writeHead(302, { location: `${storage.origin}/signed.zip?sig=abc` }).end();
      storage.respond = (_req, res) => void res.writeHead(200, { 'content-length': zip.length }).end(zip);
      const target = await download(collectionOf(collection.origin), `${artifacts.origin}/contoso/_apis/artifact/1/content?format=zip`);
      assert.ok(fs.readFileSync(target).equals(zip));
      assert.deepEqual(artifacts.seen.map((request) => request.authorization), [`Bearer ${token}`]);
      assert.deepEqual(storage.seen.map((request) => request.authorization), [undefined]);
    });

    it('never sends the token to a plain-http artifact host of an https collection', async () => {
      const collection = await peer(true);
      const plain = await peer(false);
      plain.respond = (_req, res) => void res.writeHead(200, { 'content-length': zip.length }).end(zip);
      await download(collectionOf(collection.origin), `${plain.origin}/contoso/_apis/artifact/1/content?format=zip`);
      assert.deepEqual(plain.seen.map((request) => request.authorization), [undefined]);
    });

    it('refuses a redirect from https to plain http', async () => {
      const collection = await peer(true);
      const plain = await peer(false);
      collection.respond = (_req, res) => void res.writeHead(307, { location: `${plain.origin}/signed.zip` }).end();
      await assert.rejects(download(collectionOf(collection.origin), `${collection.origin}/contoso/_apis/build/builds/1/artifacts?artifactName=m`), (error) => error instanceof CredentialScopeError);
      assert.deepEqual(plain.seen, []);
    });

    it('keeps the token off another port of the collection\'s own host', async () => {
      const collection = await peer(true);
      const otherPort = await peer(true);
      collection.respond = (_req, res) => void res.writeHead(302, { location: `${otherPort.origin}/signed.zip` }).end();
      otherPort.respond = (_req, res) => void res.writeHead(200, { 'content-length': zip.length }).end(zip);
      await download(collectionOf(collection.origin), `${collection.origin}/contoso/_apis/build/builds/1/artifacts?artifactName=m`);
      assert.deepEqual(collection.seen.map((request) => request.authorization), [`Bearer ${token}`]);
      assert.deepEqual(otherPort.seen.map((request) => request.authorization), [undefined]);
    });
  });
});
