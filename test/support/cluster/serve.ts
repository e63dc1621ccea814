/**
 * The cluster simulator in a process of its own, for callers that block their event loop (the
 * task-lib MockTestRunner waits with spawnSync, so an in-process simulator could never answer).
 * Prints one JSON line { url, kubeconfig } when ready; stops on SIGTERM or when stdin closes.
 *   node --import tsx test/support/cluster/serve.ts '{"auth":{"token":"t"}}'
 */
import { startClusterSimulator, type ClusterSimulatorOptions } from './index';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as ClusterSimulatorOptions;
  const cluster = await startClusterSimulator(options);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void cluster.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
  process.stdout.write(`${JSON.stringify({ url: cluster.url, kubeconfig: cluster.kubeconfig() })}\n`);
}

void main();
