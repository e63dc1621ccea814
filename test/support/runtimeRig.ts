/**
 * What the tests on the real runtime share: a TLS registry with basic auth holding the sample app
 * image, the cluster simulator whose kubelet pulls from it and runs pods with runc, the service
 * connections the bundled tasks use for both, a kubeconfig for the real kubectl, and the sample's
 * churn model trained by its own train.py.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pushAppImage } from './appImage/appImage';
import { type ClusterSimulator, startClusterSimulator } from './cluster';
import { startRegistry, type TestRegistry } from './registry/registry';
import type { RunTaskOptions } from './taskRunner';

export const SAMPLE_APP = join(__dirname, '..', '..', 'samples', 'flask-app');
export const BUNDLED_TASKS = join(__dirname, '..', '..', 'dist', 'tasks');

export interface RuntimeRig {
  readonly registry: TestRegistry;
  readonly cluster: ClusterSimulator;
  /** A folder removed by stop(), for the kubelet's bundles and the test's own files. */
  readonly work: string;
  /** The sample app image (no model), pinned by digest, also tagged `churn-app:app-1`. */
  readonly appImage: string;
  /** The service connections `acr` (the registry) and `aks` (the cluster), as the agent passes them. */
  readonly endpoints: NonNullable<RunTaskOptions['endpoints']>;
  /** The environment a task needs to trust the registry's certificate. */
  readonly env: Record<string, string>;
  /** Trains the sample's churn model (model/train.py) into `<work>/<name>` and returns the folder. */
  trainModel(name: string, version: string, seed: number): string;
  /** The real kubectl against the cluster. */
  kubectl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startRuntimeRig(prefix: string, token: string): Promise<RuntimeRig> {
  const work = fs.mkdtempSync(join(os.tmpdir(), `${prefix}-`));
  let registry: TestRegistry | undefined;
  let cluster: ClusterSimulator | undefined;
  try {
    registry = await startRegistry({ auth: 'basic', tls: true });
    cluster = await startClusterSimulator({ auth: { token }, loadBalancerDelayMs: 100, runtime: { registry, workDir: work } });
    const appImage = (await pushAppImage(registry, 'churn-app', 'app-1')).pinned;
    const kubeconfig = cluster.writeKubeconfig(fs.mkdtempSync(join(work, 'kubectl-')));
    const [reg, sim] = [registry, cluster];
    return {
      registry: reg, cluster: sim, work, appImage,
      endpoints: {
        acr: { url: `https://${reg.host}`, scheme: 'UsernamePassword', parameters: { registry: `https://${reg.host}`, username: reg.username!, password: reg.password!, email: '' }, data: { registrytype: 'Others' } },
        aks: { url: sim.url, scheme: 'Kubernetes', parameters: { kubeconfig: sim.kubeconfig() }, data: { authorizationType: 'Kubeconfig' } },
      },
      env: { NODE_EXTRA_CA_CERTS: join(reg.certDir!, 'ca.crt') },
      trainModel(name, version, seed) {
        const out = join(work, name);
        execFileSync('/usr/bin/python3', [join(SAMPLE_APP, 'model', 'train.py'), '--version', version, '--out', out, '--seed', String(seed)]);
        return out;
      },
      kubectl: async (...args) => (await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, ...args])).stdout,
      async stop() {
        await Promise.all([sim.stop(), reg.stop()]);
        fs.rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all([cluster?.stop(), registry?.stop()]);
    fs.rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

/** The sha256 the tests pass as a trained model's digest: that of its model.json. */
export function modelDigest(folder: string): string {
  return `sha256:${createHash('sha256').update(fs.readFileSync(join(folder, 'model.json'))).digest('hex')}`;
}

/**
 * A training bug: a copy of the model at `source`, written to `folder`, with every coefficient and
 * the intercept zero. It loads and answers, but 0.5 for every customer. Returns its digest.
 */
export function writeConstantPredictor(source: string, folder: string): string {
  fs.cpSync(source, folder, { recursive: true });
  const spec = JSON.parse(fs.readFileSync(join(folder, 'model.json'), 'utf8')) as { coefficients: number[]; intercept: number };
  fs.writeFileSync(join(folder, 'model.json'), JSON.stringify({ ...spec, coefficients: spec.coefficients.map(() => 0), intercept: 0 }, null, 2));
  return modelDigest(folder);
}
