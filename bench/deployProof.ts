/**
 * What proving the model costs on a rollout: the Deploy core rolls the same generated app out in
 * one cluster simulator (scripted pods, ready 200 ms after creation, answering through the real pod
 * proxy and load balancer), alternating three ways round by round: no proof, the model identity
 * check (GET /version on each of 2 pods), and the check plus 2 golden requests (to one pod, then
 * through the load balancer). The rows are the median added time over the plain rollout, and the
 * proof phase as the core times it (timings.proofMs).
 */
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { connectCluster } from '../tasks/common/kube/cluster';
import { type DeployRequest, type DeployResult, deployApp } from '../tasks/common/kube/deploy';
import { parseGoldenRequests } from '../tasks/common/kube/goldenRequests';
import { silentLog } from '../tasks/common/log';
import { type PodRequest, startClusterSimulator } from '../test/support/cluster';
import { testNetwork } from '../test/support/services';
import { median, type Row } from './measure';

const ROUNDS = 7;
const DIGEST = `sha256:${'d'.repeat(64)}`;
const GOLDEN = parseGoldenRequests([
  '{"path": "/score", "body": {"instances": [{"tenure_months": 2}]}, "expect": {"predictions": [{"label": "churn", "probability": 0.99}]}, "tolerance": 0.02}',
  '{"path": "/score", "body": {"instances": [{"tenure_months": 70}]}, "expect": {"predictions": [{"label": "stay", "probability": 0.01}]}, "tolerance": 0.02}',
].join('\n'), 'bench golden requests');

/** The scripted app's /score: the answers the golden file expects. */
function podApp(request: PodRequest) {
  if (request.path !== '/score') return undefined;
  const churns = request.body.includes('"tenure_months":2}');
  return { status: 200, body: { predictions: [{ label: churns ? 'churn' : 'stay', probability: churns ? 0.99 : 0.01 }] } };
}

type Way = 'none' | 'modelCheck' | 'golden';

export async function benchDeployProof(log: (line: string) => void): Promise<Row[]> {
  log(`deploy proof: load average ${loadavg().map((load) => load.toFixed(2)).join(' ')}; ${ROUNDS} rounds of 3 rollouts (2 replicas, pods ready in 200 ms), alternating`);
  const sim = await startClusterSimulator({ auth: { token: 'bench-proof-token' }, podReadyDelayMs: 200, loadBalancerDelayMs: 100, podApp });
  const cluster = connectCluster(sim.kubeconfig(), { network: testNetwork });
  try {
    const rollout = (way: Way, run: string): Promise<DeployResult> => {
      const image = `bench.example/churn@sha256:${createHash('sha256').update(run).digest('hex')}`;
      const request: DeployRequest = {
        namespace: 'proof', createNamespace: true, image, rolloutTimeoutMs: 60_000, rollbackOnFailure: true, loadBalancerTimeoutMs: 10_000,
        workload: { kind: 'generated', app: { appName: 'churn', replicas: 2, containerPort: 5000, servicePort: 8080, serviceType: 'LoadBalancer', readinessPath: '/healthz', env: {}, annotations: { modelDigest: DIGEST } } },
        modelCheck: way === 'none' ? undefined : { digest: DIGEST, path: '/version', field: 'model_digest' },
        goldenRequests: way === 'golden' ? { requests: GOLDEN, source: 'bench' } : undefined,
      };
      return deployApp(request, { cluster, log: silentLog, network: testNetwork });
    };
    await rollout('golden', 'warm-up');
    const times: Record<Way, number[]> = { none: [], modelCheck: [], golden: [] };
    const proofs: Record<Way, number[]> = { none: [], modelCheck: [], golden: [] };
    const orders: Way[][] = [['none', 'modelCheck', 'golden'], ['golden', 'modelCheck', 'none'], ['modelCheck', 'none', 'golden']];
    for (let round = 0; round < ROUNDS; round++) {
      for (const way of orders[round % orders.length]) {
        const started = performance.now();
        const result = await rollout(way, `${way}-${round}`);
        times[way].push(performance.now() - started);
        proofs[way].push(result.timings.proofMs);
        if (way !== 'none' && !result.modelVerified) throw new Error('the model check did not verify the model');
      }
    }
    const base = median(times.none);
    const added = (way: Way) => median(times[way]) - base;
    log(`  medians: plain rollout ${base.toFixed(0)} ms, with the model check ${median(times.modelCheck).toFixed(0)} ms, with check and golden requests ${median(times.golden).toFixed(0)} ms`);
    log(`  proof phase (timings.proofMs) medians: model check ${median(proofs.modelCheck).toFixed(0)} ms, check + golden requests to one pod ${median(proofs.golden).toFixed(0)} ms`);
    if (sim.errors.length > 0) throw new Error(`the cluster simulator recorded errors: ${sim.errors.join('\n')}`);
    return [
      { name: 'deploy: model check (2 pods, pod proxy) added to a rollout, median', value: `${added('modelCheck').toFixed(0)} ms`, target: '(reference)', pass: true },
      { name: 'deploy: model check + 2 golden requests (pod, then load balancer) added, median', value: `${added('golden').toFixed(0)} ms`, target: '(reference)', pass: true },
      { name: 'deploy: proof phase alone (timings.proofMs), check / check + golden', value: `${median(proofs.modelCheck).toFixed(0)} / ${median(proofs.golden).toFixed(0)} ms`, target: '(reference)', pass: true },
    ];
  } finally {
    cluster.close();
    await sim.stop();
  }
}
