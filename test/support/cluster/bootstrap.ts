/** What a fresh AKS cluster already holds, and the allocators for cluster IPs and node ports. */
import { R } from './context';
import type { ObjectApi } from './objectApi';
import type { Store } from './store';
import type { Allocations } from './strategy';
import type { Service } from './types';

export const NODE_NAME = 'aks-nodepool1-28163452-vmss000000';
export const NODE_IP = '10.224.0.4';

export class ClusterAllocations implements Allocations {
  private readonly handedOut = new Set<string>();

  constructor(private readonly store: Store) {}

  private used(): Set<string> {
    const used = new Set(this.handedOut);
    for (const svc of this.store.list(R.service) as Service[]) {
      if (svc.spec.clusterIP) used.add(svc.spec.clusterIP);
      for (const p of svc.spec.ports ?? []) if (p.nodePort) used.add(String(p.nodePort));
    }
    return used;
  }

  /** From AKS's default service CIDR 10.0.0.0/16; .1 is the API server and .10 CoreDNS. */
  clusterIp(): string {
    const used = this.used();
    for (let n = 100; n < 65_000; n += 1) {
      const ip = `10.0.${n >> 8}.${n & 255}`;
      if ((n & 255) !== 0 && (n & 255) !== 255 && !used.has(ip)) return this.take(ip);
    }
    throw new Error('service CIDR exhausted');
  }

  nodePort(): number {
    const used = this.used();
    for (;;) {
      const port = 30000 + Math.floor(Math.random() * 2768);
      if (!used.has(String(port))) return Number(this.take(String(port)));
    }
  }

  private take(value: string): string {
    this.handedOut.add(value);
    return value;
  }
}

export function bootstrap(api: ObjectApi, kubernetesVersion: string): void {
  const system = { manager: 'kube-apiserver' };
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) api.create(R.namespace, undefined, { metadata: { name } }, system);
  api.create(R.service, 'default', {
    metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: '10.0.0.1', ports: [{ name: 'https', port: 443, targetPort: 443 }] },
  }, system);
  const node = api.create(R.node, undefined, {
    metadata: {
      name: NODE_NAME,
      labels: { 'kubernetes.io/hostname': NODE_NAME, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', agentpool: 'nodepool1', 'kubernetes.azure.com/mode': 'system' },
    },
    spec: { providerID: `azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_sim/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-28163452-vmss/virtualMachines/0` },
  }, { manager: 'kubelet' });
  api.modify(R.node, undefined, node.metadata.name ?? '', { manager: 'kubelet', subresource: 'status' }, (o) => {
    o.status = {
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: node.metadata.creationTimestamp, lastTransitionTime: node.metadata.creationTimestamp }],
      addresses: [{ type: 'InternalIP', address: NODE_IP }, { type: 'Hostname', address: NODE_NAME }],
      capacity: { cpu: '4', memory: '16364520Ki', pods: '110' },
      allocatable: { cpu: '3860m', memory: '12880872Ki', pods: '110' },
      nodeInfo: { kubeletVersion: `v${kubernetesVersion}`, containerRuntimeVersion: 'containerd://1.7.27-1', operatingSystem: 'linux', architecture: 'amd64', osImage: 'Ubuntu 22.04.5 LTS' },
    };
  });
}
