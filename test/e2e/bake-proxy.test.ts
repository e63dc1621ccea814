/**
 * The bundled Bake task behind the agent's proxy (Agent.ProxyUrl, its credentials and bypass
 * list, as the agent sets them): it reaches the registry and a token service on another host
 * through the proxy, authenticates to a proxy that asks, and goes direct to bypassed hosts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { MiB, tempRoot, writeModel } from '../support/bakeHarness';
import { ForwardProxy } from '../support/forwardProxy';
import { assertOnlyOwnCommands } from '../support/hostileChecks';
import { pushBaseImage } from '../support/registry/baseImages';
import { startRegistry, type TestRegistry } from '../support/registry/registry';
import { assertNoSecrets, runTask, visibleOutput, type TaskRun } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'BakeModelIntoImageV1');
const PROXY_PASSWORD = 'Pr0xy-e2e-pass';

describe('BakeModelIntoImage e2e through the agent proxy', function () {
  this.timeout(180_000);
  let basic: TestRegistry;
  let token: TestRegistry;
  let root: string;
  let model: string;
  const proxies: ForwardProxy[] = [];

  before(async () => {
    // Token endpoints on their own https origin, as Docker Hub's auth.docker.io: a second peer.
    [basic, token] = await Promise.all([startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token', tls: true, tokenService: 'separate' })]);
    root = tempRoot('bake-proxy-e2e-');
    model = writeModel(root, { weightsBytes: 2 * MiB });
    await Promise.all([pushBaseImage(basic, 'app', '1', 'oci'), pushBaseImage(token, 'app', '1', 'oci')]);
  });
  after(async () => {
    await Promise.all([...proxies.map((proxy) => proxy.close()), basic?.stop(), token?.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function proxy(credentials?: { username: string; password: string }): Promise<ForwardProxy> {
    const started = await ForwardProxy.start(credentials ?? {});
    proxies.push(started);
    return started;
  }

  function bake(registry: TestRegistry, variables: Record<string, string>, secretVariables: Record<string, string> = {}): Promise<TaskRun> {
    return runTask({
      taskDir,
      inputs: { containerRegistry: 'registry', baseImage: `${registry.host}/app:1`, tags: 'proxied', modelPath: model },
      endpoints: { registry: { scheme: 'UsernamePassword', parameters: { registry: `https://${registry.host}`, username: registry.username!, password: registry.password! }, data: { registrytype: 'Others' } } },
      variables,
      secretVariables,
      env: { NODE_EXTRA_CA_CERTS: join(registry.certDir!, 'ca.crt') },
    });
  }

  function succeeded(run: TaskRun, registry: TestRegistry): void {
    assert.equal(run.result.status, 'Succeeded', visibleOutput(run));
    assert.match(run.outputs.imageRef, /@sha256:[a-f0-9]{64}$/);
    assertOnlyOwnCommands(run, taskDir);
    // task-lib echoes the secret variable once in a debug line as it loads, before any task code
    // runs (the agent masks it there, as its own proxy password); nothing else may show it.
    const showing = visibleOutput(run).split('\n').filter((line) => line.includes(PROXY_PASSWORD));
    assert.ok(showing.every((line) => line === `##vso[task.debug]Agent.ProxyPassword=${PROXY_PASSWORD}`) && showing.length <= 1, showing.join('\n'));
    assertNoSecrets(run, { password: registry.password!, 'proxy Basic credentials': Buffer.from(`build:${PROXY_PASSWORD}`).toString('base64') });
  }

  it('reaches the registry through the proxy with CONNECT', async () => {
    const forward = await proxy();
    const run = await bake(basic, { 'Agent.ProxyUrl': forward.url });
    succeeded(run, basic);
    assert.deepEqual([...forward.peers()], [basic.host]);
  });

  it('reaches the registry and its token service on another host through an authenticating proxy', async () => {
    const forward = await proxy({ username: 'build', password: PROXY_PASSWORD });
    const run = await bake(token, { 'Agent.ProxyUrl': forward.url, 'Agent.ProxyUsername': 'build' }, { 'Agent.ProxyPassword': PROXY_PASSWORD });
    succeeded(run, token);
    const tokenService = new URL(token.issuer!.url).host;
    assert.deepEqual([...forward.peers()].sort(), [token.host, tokenService].sort());
    assert.ok(forward.requests.every((request) => request.authorized), 'every request carried the proxy credentials');
    assert.ok(run.secretsRegistered.includes(PROXY_PASSWORD), 'the proxy password is registered as a secret');
    assert.ok(token.issuer!.requests.some((request) => request.status === 200), 'the token service issued a token');
  });

  it('goes direct to a registry on the bypass list', async () => {
    const forward = await proxy();
    const run = await bake(basic, { 'Agent.ProxyUrl': forward.url, 'Agent.ProxyBypassList': JSON.stringify(['127\\.0\\.0\\.1']) });
    succeeded(run, basic);
    assert.deepEqual(forward.requests, []);
  });
});
