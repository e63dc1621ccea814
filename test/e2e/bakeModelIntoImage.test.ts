/**
 * The bundled Bake task run as the agent runs it (INPUT_*, ENDPOINT_*, ##vso commands), under both
 * handlers, against the real registry, with every secret it used searched for in its output.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { startAzureStandIns, type AzureStandIns } from '../support/azureStandIns';
import { MiB, tempRoot, writeModel } from '../support/bakeHarness';
import { handlerNodes } from '../support/node24';
import { pushBaseImage } from '../support/registry/baseImages';
import { skopeoInspect, unpackImage } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, runTask, visibleOutput, type TaskRun } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'BakeModelIntoImageV1');
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

function assertNoTokens(run: TaskRun): void {
  assert.doesNotMatch(visibleOutput(run), JWT, 'no registry or Entra token in the output');
}

describe('BakeModelIntoImage e2e (the bundle as the agent runs it)', function () {
  this.timeout(180_000);
  let basic: TestRegistry;
  let token: TestRegistry;
  let root: string;
  let model: string;

  before(async () => {
    [basic, token] = await Promise.all([startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token' })]);
    root = tempRoot('bake-e2e-');
    model = writeModel(root, { weightsBytes: 66 * MiB });
    await Promise.all([pushBaseImage(basic, 'churn-app', '41', 'docker'), pushBaseImage(token, 'churn-app', '41', 'index')]);
  });
  after(async () => {
    await Promise.all([basic?.stop(), token?.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const connection = (registry: TestRegistry, password = registry.password!) => ({
    scheme: 'UsernamePassword',
    parameters: { registry: `https://${registry.host}`, username: registry.username!, password, email: '' },
    data: { registrytype: 'Others' },
  });

  const pipeline = { 'System.Debug': 'true', 'Build.BuildId': '42', 'System.CollectionUri': 'https://dev.azure.com/contoso/', 'System.TeamProject': 'churn', 'Build.SourceVersion': 'f00dcafe' };

  for (const { handler, nodePath } of handlerNodes()) {
    it(`bakes over TLS with a username/password connection under ${handler}, and leaks nothing`, async () => {
      const run = await runTask({
        taskDir,
        nodePath,
        inputs: { containerRegistry: 'registry', baseImage: `${basic.host}/churn-app:41`, tags: '$(Build.BuildId)\nlatest'.replace('$(Build.BuildId)', '42'), modelPath: model, modelVersion: '2.0.0', modelDigest: `sha256:${'b'.repeat(64)}` },
        endpoints: { registry: connection(basic) },
        variables: pipeline,
        env: { NODE_EXTRA_CA_CERTS: join(basic.certDir!, 'ca.crt') },
      });
      assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
      assert.match(run.outputs.imageRef, new RegExp(`^${basic.host}/churn-app@sha256:[a-f0-9]{64}$`));
      assert.equal(run.outputs.imageRef.split('@')[1], run.outputs.imageDigest);
      assert.equal(run.outputs.imageTags, '42,latest');
      assert.equal(run.outputs.modelLayerDigests.split(',').length, 2);
      assert.ok(Number(run.outputs.bytesUploaded) >= 0 && Number(run.outputs.bytesReused) > 0);
      const inspected = await skopeoInspect(basic, 'churn-app:42');
      assert.equal(inspected.Digest, run.outputs.imageDigest);
      assert.equal(inspected.Labels?.['dev.azure.pipelines.run'], 'https://dev.azure.com/contoso/churn/_build/results?buildId=42');
      assert.ok(inspected.Env?.includes('MODEL_VERSION=2.0.0'));
      const summary = run.attachments.find((attachment) => attachment.type === 'Distributedtask.Core.Summary');
      assert.ok(summary?.content?.includes(run.outputs.imageRef), 'the run summary names the image');
      assert.match(summary?.content ?? '', /\| Base digest \| `sha256:[a-f0-9]{64}` \|\n\| Platforms \| `linux\/[a-z0-9]+` \|\n\| Uploaded \| `[^`(]+` \|\n\| Reused \| `[^`(]+` \|/, 'appendLayer summarizes its base, platforms and bytes');
      assert.ok(run.secretsRegistered.includes(basic.password!), 'the password is registered as a secret');
      assertNoSecrets(run, { password: basic.password!, 'basic auth': Buffer.from(`${basic.username}:${basic.password}`).toString('base64') });
      assertNoTokens(run);
    });
  }

  it('bakes a multi-platform image through token auth and shows progress', async () => {
    const run = await runTask({
      taskDir,
      inputs: { containerRegistry: 'registry', baseImage: `${token.host}/churn-app:41`, image: `${token.host}/churn-app-model`, tags: '7', modelPath: model, allowInsecureRegistry: 'true' },
      endpoints: { registry: { ...connection(token), parameters: { ...connection(token).parameters, registry: `http://${token.host}` } } },
      variables: pipeline,
    });
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    const arm = await unpackImage(token, 'churn-app-model:7', { platform: 'arm64' });
    try {
      assert.ok(fs.readFileSync(join(arm.rootfs, 'models/weights.bin')).equals(fs.readFileSync(join(model, 'weights.bin'))));
    } finally {
      await arm.cleanup();
    }
    assert.ok(run.progress.includes(100), 'the agent progress command reached 100');
    assertNoSecrets(run, { password: token.password! });
    assertNoTokens(run);
  });

  it('fails a wrong password clearly under System.Debug, without printing it', async () => {
    const wrong = 'Wr0ng-Pa55word-x';
    const run = await runTask({
      taskDir,
      inputs: { containerRegistry: 'registry', baseImage: `${basic.host}/churn-app:41`, modelPath: model },
      endpoints: { registry: connection(basic, wrong) },
      variables: pipeline,
      env: { NODE_EXTRA_CA_CERTS: join(basic.certDir!, 'ca.crt') },
    });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message ?? '', /refused the credentials of input 'containerRegistry'/);
    assertNoSecrets(run, { password: wrong, 'basic auth': Buffer.from(`${basic.username}:${wrong}`).toString('base64') });
  });

  it('fails bad input before any work, naming the input, value and what is accepted', async () => {
    const run = await runTask({ taskDir, inputs: { baseImage: `${basic.host}/churn-app:41`, modelPath: model, tags: 'ok\n.bad' } });
    assert.equal(run.result.status, 'Failed');
    assert.match(run.result.message ?? '', /Input 'tags' is '\.bad': a tag has letters/);
  });

  describe('through an Azure Container Registry connection (Entra ID, then ACR token exchange)', () => {
    let azure: AzureStandIns;
    let acr: TestRegistry;
    /** The Resource Manager audience the registry's exchange accepts: the public cloud's unless a test names its own cloud's. */
    let acceptedAudience = 'https://management.azure.com';
    before(async () => {
      azure = await startAzureStandIns(join(root, 'azure'));
      acr = await startRegistry({ auth: 'token', tls: true, trustAadToken: (jwt) => String(azure.entra.verifyAccessToken(jwt)?.aud).replace(/\/$/, '') === acceptedAudience });
      await pushBaseImage(acr, 'churn-app', '41', 'oci');
    });
    after(async () => {
      await acr?.stop();
      await azure?.close();
    });

    function bakeThroughAcr(scheme: 'secret' | 'federated', data: Record<string, string> = {}) {
      const spec = azure.connections[scheme];
      return runTask({
        taskDir,
        inputs: { containerRegistry: spec.id, baseImage: `${acr.host}/churn-app:41`, modelPath: model, tags: 'acr' },
        endpoints: { [spec.id]: { url: `https://${acr.host}`, scheme: spec.scheme!, parameters: { ...spec.auth, loginServer: acr.host }, data: { registrytype: 'ACR', environmentAuthorityUrl: azure.entra.authorityHost, ...data } } },
        // The collection URI comes from the stand-ins here: the OIDC token is requested there.
        variables: { 'System.Debug': 'true', 'Build.BuildId': '42' },
        env: { ...azure.processEnv, ...azure.pipelineEnv, NODE_EXTRA_CA_CERTS: writeBundle(root, [azure.ca.caCert, join(acr.certDir!, 'ca.crt')]) },
      });
    }

    for (const scheme of ['secret', 'federated'] as const) {
      it(`bakes with a ${scheme} ACR connection and leaks no credential or token`, async () => {
        const run = await bakeThroughAcr(scheme);
        assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
        assert.ok(acr.issuer!.requests.some((request) => request.path === '/oauth2/exchange' && request.status === 200));
        assertNoSecrets(run, { 'client secret': azure.clientSecret, 'system access token': azure.systemAccessToken });
        assertNoTokens(run);
      });
    }

    it('asks Entra for the Resource Manager audience a sovereign connection declares, which its ACR exchanges', async () => {
      acceptedAudience = 'https://management.core.chinacloudapi.cn';
      try {
        const before = azure.entra.tokenRequests.length;
        const run = await bakeThroughAcr('secret', { environment: 'AzureChinaCloud', activeDirectoryServiceEndpointResourceId: 'https://management.core.chinacloudapi.cn/' });
        assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
        assert.deepEqual(azure.entra.tokenRequests.slice(before).map((request) => request.scope), ['https://management.core.chinacloudapi.cn/.default']);
        assertNoTokens(run);
      } finally {
        acceptedAudience = 'https://management.azure.com';
      }
    });
  });
});

function writeBundle(root: string, files: string[]): string {
  const bundle = join(root, 'ca-bundle.pem');
  fs.writeFileSync(bundle, files.map((file) => fs.readFileSync(file, 'utf8')).join('\n'));
  return bundle;
}
