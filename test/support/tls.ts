/**
 * Test certificates made with the openssl CLI: a throw-away CA, a server certificate for
 * 127.0.0.1 and localhost signed by it (Node checks the subjectAltName, not the CN), and
 * self-signed client certificates such as a service principal's.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TestCa {
  /** PEM file of the CA: hand it to a child process as NODE_EXTRA_CA_CERTS. */
  readonly caCert: string;
  /** Server certificate and key files for 127.0.0.1 and localhost. */
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed (is the openssl CLI installed?): ${stderr || (error as Error).message}`);
  }
}

/**
 * Writes ca.crt, server.crt and server.key into `dir` (created if needed) and returns their paths.
 * `dnsNames` adds host names the server certificate also holds (e.g. a production blob host).
 */
export function createTestCa(dir: string, dnsNames: readonly string[] = []): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const days = ['-days', '2'];
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', ...days,
    '-subj', '/CN=Model Delivery Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  fs.writeFileSync(path.join(dir, 'server.ext'), [
    `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...dnsNames.map((name) => `DNS:${name}`)].join(',')}`,
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', ...days, '-extfile', 'server.ext'], dir);
  return { caCert: path.join(dir, 'ca.crt'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
}

export interface ClientCertificate {
  /** Certificate and private key in one PEM, as an AzureRM service connection stores it. */
  readonly pem: string;
  /** The certificate alone: what an app registration holds. */
  readonly certificatePem: string;
  /** Hex SHA-1 and SHA-256 of the DER certificate (x5t / x5t#S256 in a client assertion). */
  readonly sha1Thumbprint: string;
  readonly sha256Thumbprint: string;
}

/** A self-signed RSA client certificate, e.g. for a service principal. */
export function createClientCertificate(dir: string, name: string): ClientCertificate {
  fs.mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`,
    '-days', '2', '-subj', `/CN=${name}`], dir);
  const certificatePem = fs.readFileSync(path.join(dir, `${name}.crt`), 'utf8');
  const keyPem = fs.readFileSync(path.join(dir, `${name}.key`), 'utf8');
  const der = new X509Certificate(certificatePem).raw;
  return {
    pem: `${keyPem.trim()}\n${certificatePem.trim()}\n`,
    certificatePem,
    sha1Thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256Thumbprint: createHash('sha256').update(der).digest('hex').toUpperCase(),
  };
}
