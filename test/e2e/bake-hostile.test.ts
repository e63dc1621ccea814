/**
 * The bundled Bake task against hostile registries, run as the agent runs it: each case fails with
 * a message naming the peer or the input, prints no secret, sends no agent command of the peer's,
 * and leaves nothing behind. Cancels (SIGTERM) during an upload and during a buildah build end as
 * Cancelled with nothing left over, and the next run succeeds.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { startAzureStandIns, type AzureStandIns } from '../support/azureStandIns';
import { MiB, tempRoot, writeModel } from '../support/bakeHarness';
import { assertCleanFailure, assertOnlyOwnCommands } from '../support/hostileChecks';
import { pushBaseImage, type BaseImage } from '../support/registry/baseImages';
import { startHostileFront, type FrontAction, type HostileFront } from '../support/registry/hostileFront';
import { rawRequest } from '../support/registry/http';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, runTask, visibleOutput, type RunTaskOptions, type TaskRun } from '../support/taskRunner';
import { createTestCa, type TestCa } from '../support/tls';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'BakeModelIntoImageV1');
const PASSWORD = 'Hostile-e2e-Pa55word';

describe('BakeModelIntoImage e2e against hostile registries', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let root: string;
  let model: string;
  let ca: TestCa;
  let base: BaseImage;
  const fronts: HostileFront[] = [];

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    root = tempRoot('bake-hostile-e2e-');
    model = writeModel(root, { weightsBytes: 2 * MiB });
    ca = createTestCa(join(root, 'ca'));
    base = await pushBaseImage(registry, 'app', '1', 'oci');
    await pushBaseImage(registry, 'multi', '1', 'index');
  });
  after(async () => {
    await Promise.all([...fronts.map((front) => front.close()), registry?.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function front(tls: boolean, decide?: (url: string, authorization?: string, method?: string) => FrontAction | undefined): Promise<HostileFront> {
    const started = await startHostileFront({ upstreamPort: Number(registry.host.split(':')[1]), ...(tls ? { tls: ca } : {}), decide: decide && ((request) => decide(request.url ?? '', request.headers.authorization, request.method)) });
    fronts.push(started);
    return started;
  }

  const basicConnection = (host: string) => ({ registry: { scheme: 'UsernamePassword', parameters: { registry: `https://${host}`, username: 'pusher', password: PASSWORD }, data: { registrytype: 'Others' } } });
  const secrets = { password: PASSWORD, 'basic auth': Buffer.from(`pusher:${PASSWORD}`).toString('base64') };

  function bake(hostile: HostileFront, inputs: Record<string, string>, extra: Partial<RunTaskOptions> = {}): Promise<TaskRun> {
    const tls = hostile.url.startsWith('https:');
    return runTask({
      taskDir,
      inputs: { baseImage: `${hostile.host}/app:1`, image: `${hostile.host}/baked`, tags: 'v1', modelPath: model, retries: '1', ...(tls ? {} : { allowInsecureRegistry: 'true' }), ...inputs },
      ...(tls ? { env: { NODE_EXTRA_CA_CERTS: ca.caCert } } : {}),
      keepFolders: true,
      ...extra,
    });
  }

  async function assertNothingTagged(): Promise<void> {
    assert.equal((await rawRequest(`${registry.url}/v2/baked/manifests/v1`, { method: 'HEAD' })).status, 404, 'nothing was tagged');
  }

  function clean(run: TaskRun, names: RegExp): void {
    try {
      assertCleanFailure(run, { taskDir, names, secrets, noLeftoversIn: [run.folders.temp, run.folders.work] });
      assert.deepEqual(fs.readdirSync(run.folders.temp).filter((name) => !name.endsWith('.md') && name !== '.taskkey'), [], 'Agent.TempDirectory holds nothing but the summary');
    } finally {
      run.cleanup();
    }
  }

  it('refuses an index entry whose digest carries \\n##vso[artifact.upload], without the agent ever seeing the command', async () => {
    const hostile = await front(false, (url) => (url.endsWith('/multi/manifests/1') ? {
      kind: 'rewrite',
      change: (body) => {
        const index = JSON.parse(body.toString('utf8')) as { manifests: object[] };
        index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:0\n##vso[artifact.upload containerfolder=loot;artifactname=loot]/etc/hostname', size: 1, platform: { os: 'linux', architecture: 'amd64' } });
        return Buffer.from(JSON.stringify(index));
      },
    } : undefined));
    const run = await bake(hostile, { baseImage: `${hostile.host}/multi:1` });
    assert.doesNotMatch(run.stdout, /^##vso\[artifact/m);
    clean(run, new RegExp(`manifest or config for ${hostile.host.replace(/\./g, '\\.')}/multi.*index entry 3 has digest "sha256:0\\\\n#\\\\#vso\\[artifact\\.upload`));
    await assertNothingTagged();
  });

  it('refuses a realm on another host over plain http for a user/password connection; that host receives nothing', async () => {
    const other = await front(false);
    const hostile = await front(true, () => ({ kind: 'answer', status: 401, headers: { 'www-authenticate': `Bearer realm="${other.url}/token",service="x"` } }));
    const run = await bake(hostile, { containerRegistry: 'registry' }, { endpoints: basicConnection(hostile.host) });
    clean(run, new RegExp(`sends its clients for a token to ${other.host.replace(/\./g, '\\.')} over plain http`));
    assert.deepEqual(other.requests, []);
  });

  it('refuses an https redirect to http on the same host: the credentials never travel in cleartext', async () => {
    const plain = await front(false);
    const hostile = await front(true, (url, authorization): FrontAction => (authorization
      ? { kind: 'answer', status: 307, headers: { location: `http://127.0.0.1:${plain.host.split(':')[1]}${url}` } }
      : { kind: 'answer', status: 401, headers: { 'www-authenticate': 'Basic realm="registry"' } }));
    const run = await bake(hostile, { containerRegistry: 'registry' }, { endpoints: basicConnection(hostile.host) });
    clean(run, new RegExp(`Refused to send the credentials for ${hostile.host.replace(/\./g, '\\.')} to ${plain.host.replace(/\./g, '\\.')}: a redirect from https to plain http is refused`));
    assert.deepEqual(plain.requests, []);
  });

  it('refuses a pinned base whose config does not match its digest, naming the image and both digests', async () => {
    const manifest = JSON.parse((await rawRequest(`${registry.url}/v2/app/manifests/${base.digest}`, { headers: { accept: base.mediaType } })).body) as { config: { digest: string } };
    const hostile = await front(false, (url) => (url.endsWith(manifest.config.digest) ? { kind: 'rewrite', change: (body) => Buffer.from(body.toString('utf8').replace('"APP_ENV=production"', '"APP_ENV=production","LD_PRELOAD=/tmp/evil.so"')) } : undefined));
    const run = await bake(hostile, { baseImage: `${hostile.host}/app@${base.digest}` });
    clean(run, new RegExp(`The config of ${hostile.host.replace(/\./g, '\\.')}/app@${base.digest} does not match its digest: expected ${manifest.config.digest}, the registry sent content with digest sha256:[a-f0-9]{64}`));
    await assertNothingTagged();
  });

  for (const [title, action] of [['never answers', { kind: 'silent' }], ['trickles a byte every 20 s', { kind: 'trickle', everyMs: 20_000, body: '{"schemaVersion":2}' }]] as const) {
    it(`stops at timeoutSeconds against a registry that ${title}, naming the input`, async () => {
      const hostile = await front(false, () => action);
      const run = await bake(hostile, { timeoutSeconds: '5' });
      // Per-request deadlines (60 s each, one retry) would outlast the runner's 100 s kill: only the 5 s
      // bake limit can end the run with this message, and the task ended it itself.
      assert.equal(run.timedOut, false, 'the task stopped on its own, not killed by the runner');
      clean(run, /did not finish within 5 seconds, the limit of input 'timeoutSeconds'/);
    });
  }

  describe('with an Azure Container Registry connection', () => {
    let azure: AzureStandIns;
    before(async () => {
      azure = await startAzureStandIns(join(root, 'azure'));
    });
    after(() => azure?.close());

    for (const scheme of ['http', 'https'] as const) {
      it(`refuses a realm on another host over ${scheme} before the Entra token is requested`, async () => {
        const other = await front(scheme === 'https');
        const hostile = await front(true, () => ({ kind: 'answer', status: 401, headers: { 'www-authenticate': `Bearer realm="${other.url}/oauth2/token",service="acr"` } }));
        const spec = azure.connections.secret;
        const before = azure.entra.tokenRequests.length;
        const bundle = join(root, `ca-${scheme}.pem`);
        fs.writeFileSync(bundle, [azure.ca.caCert, ca.caCert].map((file) => fs.readFileSync(file, 'utf8')).join('\n'));
        const run = await bake(hostile, { containerRegistry: spec.id }, {
          endpoints: { [spec.id]: { url: `https://${hostile.host}`, scheme: spec.scheme!, parameters: { ...spec.auth, loginServer: hostile.host }, data: { registrytype: 'ACR', environmentAuthorityUrl: azure.entra.authorityHost } } },
          env: { ...azure.processEnv, NODE_EXTRA_CA_CERTS: bundle },
        });
        clean(run, new RegExp(`sends its clients for a token to ${other.host.replace(/\./g, '\\.')}\\. Refused before the Entra ID token was requested`));
        assertNoSecrets(run, { 'client secret': azure.clientSecret });
        assert.equal(azure.entra.tokenRequests.length, before, 'no Entra token was requested');
        assert.deepEqual(other.requests, []);
      });
    }
  });

  it('ends a cancelled upload (SIGTERM) as Cancelled with nothing left behind, and the next run succeeds', async () => {
    const hostile = await front(false, (_url, _authorization, method) => (method === 'PATCH' ? { kind: 'silent' } : undefined));
    // The task's own TMPDIR, so what other test files put in the shared one (they run in parallel) does not count.
    const tmp = fs.mkdtempSync(join(root, 'tmpdir-'));
    const run = await bake(hostile, {}, { cancelWhen: { line: /uploading (sha256:|a new model layer)/ }, env: { TMPDIR: tmp } });
    try {
      assert.equal(run.result.status, 'Cancelled', visibleOutput(run));
      assert.match(run.result.message, /cancelled/i);
      assert.equal(run.timedOut, false, 'it ended on the SIGTERM, not killed by the runner');
      assertOnlyOwnCommands(run, taskDir);
      assert.deepEqual(fs.readdirSync(run.folders.temp).filter((name) => !name.endsWith('.md') && name !== '.taskkey'), []);
      assert.deepEqual(fs.readdirSync(tmp), [], 'nothing left in the temporary folder');
    } finally {
      run.cleanup();
    }
    await assertNothingTagged();
    const again = await runTask({ taskDir, inputs: { baseImage: `${registry.host}/app:1`, image: `${registry.host}/rebaked`, tags: 'v1', modelPath: model, allowInsecureRegistry: 'true' } });
    assert.equal(again.result.status, 'Succeeded', visibleOutput(again));
  });

  describe('dockerBuild mode (buildah)', () => {
    let basic: TestRegistry;
    let app: string;
    before(async () => {
      basic = await startRegistry({ auth: 'basic', tls: false });
      await pushBaseImage(basic, 'python-base', '1', 'oci');
      app = fs.mkdtempSync(join(root, 'app-'));
      fs.writeFileSync(join(app, 'score.py'), 'print("scoring")\n');
      fs.writeFileSync(join(app, 'Dockerfile'), [`FROM ${basic.host}/python-base:1`, 'ARG MODEL_DIR', 'COPY score.py /app/score.py', 'COPY $MODEL_DIR /models', ''].join('\n'));
    });
    after(() => basic?.stop());

    const build = (extra: Partial<RunTaskOptions> = {}) => runTask({
      taskDir,
      inputs: { mode: 'dockerBuild', containerRegistry: 'registry', image: `${basic.host}/built`, tags: 'b1', modelPath: model, dockerfile: join(app, 'Dockerfile'), allowInsecureRegistry: 'true' },
      endpoints: { registry: { scheme: 'UsernamePassword', parameters: { registry: `http://${basic.host}`, username: basic.username!, password: basic.password! }, data: { registrytype: 'Others' } } },
      ...extra,
    });

    it('ends a build cancelled by SIGTERM with no login file and no staged model left, and the next run succeeds', async () => {
      // The task's own TMPDIR: other test files, running in parallel, use the shared one.
      const tmp = fs.mkdtempSync(join(os.tmpdir(), 'bake-hostile-tmpdir-'));
      const run = await build({ keepFolders: true, cancelWhen: { line: /buildah: STEP 1\// }, env: { TMPDIR: tmp } });
      try {
        assert.equal(run.result.status, 'Cancelled', visibleOutput(run));
        assert.match(run.stdout, /buildah: STEP 1\//, 'the engine output came through the log, line by line');
        assertOnlyOwnCommands(run, taskDir);
        assertNoSecrets(run, { password: basic.password!, 'basic auth': Buffer.from(`${basic.username}:${basic.password}`).toString('base64') });
        assert.deepEqual(fs.readdirSync(app).sort(), ['Dockerfile', 'score.py'], 'the staged model left the build context');
        assert.deepEqual(fs.readdirSync(run.folders.temp).filter((name) => !name.endsWith('.md') && name !== '.taskkey'), [], 'no login file in Agent.TempDirectory');
        assert.deepEqual(fs.readdirSync(tmp).filter((name) => name.startsWith('bake-')), [], 'nothing of ours in the temporary folder');
        fs.rmSync(tmp, { recursive: true, force: true });
      } finally {
        run.cleanup();
      }
      const again = await build();
      assert.equal(again.result.status, 'Succeeded', visibleOutput(again));
      assert.match(again.outputs.imageRef, new RegExp(`^${basic.host.replace(/\./g, '\\.')}/built@sha256:[a-f0-9]{64}$`));
      assert.deepEqual(Object.keys(again.outputs).sort(), ['imageDigest', 'imageRef', 'imageTags', 'modelLayerDigests', 'provenanceDigest', 'signatureDigest'], 'the engine reports no bytes, so no byte outputs');
      assert.match(again.outputs.provenanceDigest, /^sha256:[a-f0-9]{64}$/, 'the built image is attested too');
      const summary = again.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary')?.content ?? '';
      assert.ok(summary.includes('| Base digest | `(built from Dockerfile)` |\n| Platforms | `(as built)` |\n| Uploaded | `(by the build engine)` |\n| Reused | `(by the build engine)` |'), summary);
    });
  });
});
