/**
 * What the strategy tests (canary, deciding later, blue-green) share: the cluster simulator with
 * scripted pods, a connection to it, a kubeconfig for the real kubectl, the generated app `churn`
 * served by the rolling deploy before the first test, and the golden request its pods answer.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { type Cluster, connectCluster } from '../../tasks/common/kube/cluster';
import { type DeployContext, type DeployRequest, deployApp, type GeneratedApp } from '../../tasks/common/kube/deploy';
import { parseGoldenRequests } from '../../tasks/common/kube/goldenRequests';
import { type ClusterSimulator, type ScriptedApp, startClusterSimulator } from './cluster';
import { type RecordingLog, recordingLog } from './capture';
import { testNetwork } from './services';

/** The model digest the scripted pods report, and another one. */
export const GOOD = `sha256:${'a'.repeat(64)}`;
export const OTHER = `sha256:${'c'.repeat(64)}`;

export const GOLDEN = parseGoldenRequests(
  JSON.stringify({ path: '/score', body: { instances: [{ tenure_months: 2 }] }, expect: { predictions: [{ label: 'churn', probability: 0.8 }] }, tolerance: 0.001 }),
  'golden.jsonl',
);

/** The golden request's answer; `:slow` images answer it 40 ms later. */
export function scoreAnswer(image: string) {
  const answer = { status: 200, body: { predictions: [{ label: 'churn', probability: 0.8 }] } };
  return image.endsWith(':slow') ? { ...answer, delayMs: 40 } : answer;
}

export interface StrategyFixture {
  readonly sim: ClusterSimulator;
  readonly cluster: Cluster;
  readonly app: GeneratedApp;
  /** A deploy of `image` as the app, with the model check and the golden requests. */
  request(image: string): DeployRequest;
  context(on?: Cluster, log?: RecordingLog): DeployContext & { log: RecordingLog };
  /** The real kubectl, in the fixture's namespace. */
  kubectl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface FixtureOptions {
  readonly namespace: string;
  readonly podApp: ScriptedApp;
  readonly app?: Partial<GeneratedApp>;
  readonly request?: Partial<DeployRequest>;
}

/** Starts the simulator and rolls `churn:good` out, as a team has it before its first progressive run. */
export async function startStrategyFixture(options: FixtureOptions): Promise<StrategyFixture> {
  const { namespace } = options;
  const token = `sim-token-${Math.random().toString(36).slice(2)}`;
  const sim = await startClusterSimulator({ auth: { token }, podReadyDelayMs: 40, loadBalancerDelayMs: 50, podApp: options.podApp });
  const cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), `${namespace}-kubectl-`));
  const kubeconfig = sim.writeKubeconfig(folder);
  const app: GeneratedApp = {
    appName: 'churn', replicas: 2, containerPort: 8080, servicePort: 8080, serviceType: 'ClusterIP', readinessPath: '/healthz', env: {}, annotations: {}, ...options.app,
  };
  const fixture: StrategyFixture = {
    sim, cluster, app,
    request: (image) => ({
      namespace, createNamespace: true, image, workload: { kind: 'generated', app },
      rolloutTimeoutMs: 20_000, rollbackOnFailure: true, loadBalancerTimeoutMs: 5_000, goldenRequests: { requests: GOLDEN, source: 'golden.jsonl' },
      modelCheck: { digest: GOOD, path: '/version', field: 'model_digest' }, ...options.request,
    }),
    context: (on = cluster, log = recordingLog()) => ({ cluster: on, log, network: testNetwork, retry: { attempts: 2, baseDelayMs: 20 } }),
    kubectl: async (...args) => (await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, '-n', namespace, ...args])).stdout,
    async stop() {
      cluster.close();
      await sim.stop();
      fs.rmSync(folder, { recursive: true, force: true });
    },
  };
  await deployApp(fixture.request('registry.example/churn:good'), fixture.context());
  return fixture;
}
