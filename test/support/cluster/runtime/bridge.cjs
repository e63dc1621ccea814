// Run inside a container's network namespace (nsenter --net=/proc/<pid>/ns/net node bridge.cjs
// <socket> <port>): listens on a unix socket, which the host reaches through the file system, and
// forwards each connection to 127.0.0.1:<port> in that namespace. Prints "ready" once listening.
'use strict';
const net = require('node:net');
const fs = require('node:fs');

const [socketPath, portText] = process.argv.slice(2);
const port = Number(portText);
fs.rmSync(socketPath, { force: true });
const server = net.createServer((client) => {
  const app = net.connect(port, '127.0.0.1');
  client.pipe(app).pipe(client);
  const end = () => {
    client.destroy();
    app.destroy();
  };
  client.on('error', end);
  app.on('error', end);
  client.on('close', end);
  app.on('close', end);
});
server.listen(socketPath, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
