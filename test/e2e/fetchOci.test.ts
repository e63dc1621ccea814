/**
 * Source oci end to end: the bundled task, as the agent runs it, fetches a ModelPack from the
 * distribution registry over TLS with a Docker Registry service connection, skipping a pre-release.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from '../support/modelStore';
import { handlerNodes } from '../support/node24';
import { pushArtifact } from '../support/registry/pushArtifact';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, runTask, visibleOutput } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');
const MODELPACK = { artifactType: 'application/vnd.cncf.model.manifest.v1+json', config: 'application/vnd.cncf.model.config.v1+json', raw: 'application/vnd.cncf.model.weight.v1.raw' };

describe('FetchLatestModel e2e from an OCI registry (the bundle as the agent runs it)', function () {
  this.timeout(120_000);
  let registry: TestRegistry;
  let work: string;
  let released: string;
  const weights = randomBytes(2 * 1024 * 1024 + 3);

  const modelPack = (data: Buffer) => ({
    artifactType: MODELPACK.artifactType,
    config: { mediaType: MODELPACK.config, data: Buffer.from('{"descriptor":{"createdAt":"2026-03-01T00:00:00Z"}}') },
    layers: [{ mediaType: MODELPACK.raw, data, annotations: { 'org.cncf.model.filepath': 'weights/model.safetensors' } }],
  });

  before(async () => {
    registry = await startRegistry({ auth: 'basic' });
    released = await pushArtifact(registry, 'models/churn', '2.10.1', modelPack(weights));
    await pushArtifact(registry, 'models/churn', '2.11.0-beta.2', modelPack(Buffer.from('beta')));
  });
  after(async () => registry?.stop());
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'fetch-oci-e2e-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const connection = () => ({ scheme: 'UsernamePassword', parameters: { registry: `https://${registry.host}`, username: registry.username!, password: registry.password!, email: '' }, data: { registrytype: 'Others' } });

  for (const { handler, nodePath } of handlerNodes()) {
    it(`fetches the highest release, not the higher beta, under ${handler}, and leaks nothing`, async () => {
      const destination = join(work, 'model');
      const run = await runTask({
        taskDir,
        nodePath,
        inputs: { source: 'oci', ociRepository: `${registry.host}/models/churn`, containerRegistry: 'registry', destination },
        endpoints: { registry: connection() },
        env: { NODE_EXTRA_CA_CERTS: join(registry.certDir!, 'ca.crt') },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.equal(run.outputs.modelVersion, '2.10.1');
      assert.equal(run.outputs.modelUri, `oci://${registry.host}/models/churn@${released}`);
      assert.equal(run.outputs.modelFiles, '1');
      assert.ok(readFileSync(join(destination, 'weights', 'model.safetensors')).equals(weights));
      assert.ok(run.secretsRegistered.includes(registry.password!), 'the password is registered as a secret');
      assertNoSecrets(run, { password: registry.password!, 'basic auth': Buffer.from(`${registry.username}:${registry.password}`).toString('base64') });
    });
  }

  it('takes the beta with includePrereleases, and fails naming ociRepository for a repository that is not there', async () => {
    const common = { source: 'oci', containerRegistry: 'registry', destination: join(work, 'model') };
    const env = { NODE_EXTRA_CA_CERTS: join(registry.certDir!, 'ca.crt') };
    const beta = await runTask({ taskDir, inputs: { ...common, ociRepository: `${registry.host}/models/churn`, includePrereleases: 'true' }, endpoints: { registry: connection() }, env });
    assert.equal(beta.result.status, 'Succeeded', visibleOutput(beta));
    assert.equal(beta.outputs.modelVersion, '2.11.0-beta.2');
    const missing = await runTask({ taskDir, inputs: { ...common, ociRepository: `${registry.host}/models/nothing` }, endpoints: { registry: connection() }, env });
    assert.equal(missing.result.status, 'Failed');
    assert.match(missing.result.message ?? '', /^Input 'ociRepository': the registry has no repository oci:\/\/[^ ]+\/models\/nothing/);
  });
});
