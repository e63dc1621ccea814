/**
 * The two ends around a tcpProxy, shared by its tests and its benchmark: a listener whose close()
 * drops its live sockets, a source that sends bytes honouring backpressure, and a counting reader.
 */
import * as net from 'node:net';

const CHUNK = Buffer.alloc(64 * 1024, 7);

export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** A local server on port 0 whose close() also drops its live sockets. */
export async function listen(onSocket: (socket: net.Socket) => void): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      sockets.forEach((socket) => socket.destroy());
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `size` bytes (Infinity: until the peer goes) honouring backpressure, then ends. */
export function sendBytes(socket: net.Socket, size: number, onWritten: (n: number) => void = () => undefined): void {
  let left = size;
  const send = () => {
    while (left > 0 && !socket.destroyed) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      onWritten(piece.length);
      if (!socket.write(piece)) return void socket.once('drain', send);
    }
    if (left <= 0) socket.end();
  };
  send();
}

export interface Source extends Listening {
  /** Bytes the source managed to hand to its sockets (bounded by backpressure). */
  written(): number;
}

/** Sends `size` bytes (Infinity: until the peer goes) to every connection. */
export async function startSource(size: number, onSocket?: (socket: net.Socket) => void): Promise<Source> {
  let written = 0;
  const server = await listen((socket) => {
    onSocket?.(socket);
    sendBytes(socket, size, (n) => (written += n));
  });
  return { ...server, written: () => written };
}

export interface Reader {
  readonly socket: net.Socket;
  /** Bytes received so far. */
  readonly bytes: number;
  /** Settles when the connection is gone, with the bytes and the error code if any. */
  readonly done: Promise<{ bytes: number; error?: string }>;
}

/** Connects to `port` and counts what arrives until the connection ends. */
export function read(port: number, host = '127.0.0.1', onData?: (chunk: Buffer) => void): Reader {
  const socket = net.connect(port, host);
  let bytes = 0;
  let error: string | undefined;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    onData?.(chunk);
  });
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  const done = new Promise<{ bytes: number; error?: string }>((resolve) => socket.on('close', () => resolve({ bytes, error })));
  return { socket, get bytes() { return bytes; }, done };
}
