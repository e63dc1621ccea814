/**
 * The test proxy's throttle end to end, on real sockets and the real clock: the rate each cap lets
 * through, measured beside its target. Its pacing logic is tested deterministically against a
 * stepped clock (test/support/tcpProxy.test.ts); this only shows the wall-clock result.
 */
import { startTcpProxy, type TcpProxyOptions } from '../test/support/tcpProxy';
import { listen, read, sendBytes, startSource } from '../test/support/tcpPeers';
import type { Row } from './measure';

const WINDOW_MS = 1500;
const TOLERANCE = 0.15;

/** Bytes per second over the window, from the first byte on (the first chunk is the burst). */
function rateSince(first: { at: number; bytes: number } | undefined, bytes: number, endedAt: number): number {
  return first ? ((bytes - first.bytes) * 1000) / (endedAt - first.at) : 0;
}

/** Downloads through a proxy with `options` on `connections` connections for the window; their rates. */
async function downloadRates(options: Omit<TcpProxyOptions, 'targetPort'>, connections: number): Promise<number[]> {
  const source = await startSource(Infinity);
  const proxy = await startTcpProxy({ ...options, targetPort: source.port });
  try {
    const readers = Array.from({ length: connections }, () => {
      let first: { at: number; bytes: number } | undefined;
      const reader = read(proxy.port, proxy.host, (chunk) => (first ??= { at: performance.now(), bytes: chunk.length }));
      return { reader, first: () => first };
    });
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    const endedAt = performance.now();
    return readers.map(({ reader, first }) => rateSince(first(), reader.bytes, endedAt));
  } finally {
    await proxy.close();
    await source.close();
  }
}

async function uploadRate(bytesPerSecond: number): Promise<number> {
  let bytes = 0;
  let first: { at: number; bytes: number } | undefined;
  const sink = await listen((socket) => socket.on('data', (chunk: Buffer) => {
    first ??= { at: performance.now(), bytes: chunk.length };
    bytes += chunk.length;
  }));
  const proxy = await startTcpProxy({ targetPort: sink.port, upstreamBytesPerSecondPerConnection: bytesPerSecond });
  try {
    sendBytes(read(proxy.port, proxy.host).socket, Infinity);
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    return rateSince(first, bytes, performance.now());
  } finally {
    await proxy.close();
    await sink.close();
  }
}

function rateRow(name: string, measured: number, target: number): Row {
  const ratio = measured / target;
  return {
    name,
    value: `${(measured / 1e6).toFixed(1)} MB/s (${ratio.toFixed(2)}x)`,
    target: `${(target / 1e6).toFixed(0)} MB/s ±${TOLERANCE * 100}%`,
    pass: Math.abs(ratio - 1) <= TOLERANCE,
  };
}

export async function benchTcpProxy(log: (line: string) => void): Promise<Row[]> {
  log(`tcpProxy: one download capped at 40 MB/s for ${WINDOW_MS} ms`);
  const cpuBefore = process.cpuUsage();
  const [single] = await downloadRates({ bytesPerSecondPerConnection: 40e6 }, 1);
  const cpu = process.cpuUsage(cpuBefore);
  const cpuShare = (cpu.user + cpu.system) / 1e3 / WINDOW_MS;
  log('tcpProxy: two downloads capped at 10 MB/s each');
  const pair = await downloadRates({ bytesPerSecondPerConnection: 10e6 }, 2);
  log('tcpProxy: one upload capped at 10 MB/s');
  const upload = await uploadRate(10e6);
  return [
    rateRow('tcpProxy download capped at 40 MB/s', single, 40e6),
    // Source, proxy and client share this process: at 40 MB/s they should stay well under a core.
    { name: 'tcpProxy at 40 MB/s: CPU of source+proxy+client', value: `${(cpuShare * 100).toFixed(0)}% of a core`, target: '< 80%', pass: cpuShare < 0.8 },
    rateRow('tcpProxy 2 downloads at 10 MB/s each: first', pair[0], 10e6),
    rateRow('tcpProxy 2 downloads at 10 MB/s each: second', pair[1], 10e6),
    rateRow('tcpProxy upload capped at 10 MB/s', upload, 10e6),
  ];
}
