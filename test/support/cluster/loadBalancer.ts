/**
 * Load-balancer frontends: a unique loopback address per LoadBalancer Service (all of 127.0.0.0/8
 * reaches lo on Linux, so no interface set-up is needed) with one HTTP listener per service port.
 */
import * as http from 'node:http';

/** Shared by every simulator in this process, so two clusters never hand out the same address. */
const claimed = new Set<string>();

function randomLoopback(): string {
  const r = (n: number) => Math.floor(Math.random() * n);
  // 127.0.x.x is left alone: systemd-resolved and friends live there.
  return `127.${64 + r(190)}.${r(256)}.${1 + r(254)}`;
}

export type PortHandler = (port: number) => http.RequestListener;

async function listen(ip: string, port: number, handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export class Frontend {
  private readonly servers = new Map<number, http.Server>();

  private constructor(readonly ip: string, private readonly serve: boolean, private readonly handler: PortHandler) {}

  get ports(): number[] {
    return [...this.servers.keys()];
  }

  /** Claims an unused loopback address and, when serving, listens on every port there. */
  static async open(ports: number[], serve: boolean, handler: PortHandler): Promise<Frontend> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 30; attempt += 1) {
      const ip = randomLoopback();
      if (claimed.has(ip)) continue;
      claimed.add(ip);
      const frontend = new Frontend(ip, serve, handler);
      try {
        await frontend.setPorts(ports);
        return frontend;
      } catch (error) {
        await frontend.close();
        lastError = error;
        // Another process may hold this address and port: try another address; anything else is final.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EACCES') {
          throw new Error(`cannot listen on ${ip}:${ports.join(',')} for a LoadBalancer service: ports below 1024 need root or CAP_NET_BIND_SERVICE (or start the simulator with serveLoadBalancers: false)`);
        }
        if (code !== 'EADDRINUSE') throw error;
      }
    }
    throw new Error(`no free loopback address for a load balancer: ${String(lastError)}`);
  }

  async setPorts(ports: number[]): Promise<void> {
    if (!this.serve) return;
    for (const [port, server] of [...this.servers]) {
      if (!ports.includes(port)) {
        this.servers.delete(port);
        await close(server);
      }
    }
    for (const port of ports) {
      if (!this.servers.has(port)) this.servers.set(port, await listen(this.ip, port, this.handler(port)));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers.values()].map(close));
    this.servers.clear();
    claimed.delete(this.ip);
  }
}
