import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy that answers chosen requests with a server error instead of forwarding them, the
 * way a storage front end under load answers 500 or 503, and forwards everything else untouched.
 */
export interface HttpFaultProxy {
  readonly port: number;
  /** Requests answered with an error so far. */
  readonly faults: number;
  readonly forwarded: number;
  close(): Promise<void>;
}

export async function startHttpFaultProxy(options: {
  targetPort: number;
  /** Decides per request; the number is how many faults were injected before it. */
  fault: (request: http.IncomingMessage, faultsSoFar: number) => 500 | 503 | undefined;
  /** Answer a fault only once the whole request body has arrived (the client sent it all), not at once. */
  afterBody?: boolean;
}): Promise<HttpFaultProxy> {
  let faults = 0;
  let forwarded = 0;
  const server = http.createServer((request, response) => {
    const status = options.fault(request, faults);
    if (status) {
      faults += 1;
      request.resume();
      const answer = () => {
        response.writeHead(status, { 'content-type': 'application/xml', 'x-ms-error-code': status === 503 ? 'ServerBusy' : 'InternalError' });
        response.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${status === 503 ? 'ServerBusy' : 'InternalError'}</Code><Message>Injected fault</Message></Error>`);
      };
      if (options.afterBody) request.once('end', answer);
      else answer();
      return;
    }
    forwarded += 1;
    const upstream = http.request({ host: '127.0.0.1', port: options.targetPort, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get faults() {
      return faults;
    },
    get forwarded() {
      return forwarded;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
