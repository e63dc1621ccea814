/**
 * Shared set-up for Bake tests: a model folder on disk, BakeOptions for a test registry, and a
 * recording context. Keeps each test about what it checks.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { BakeContext, BakeOptions } from '../../tasks/common/oci/bake';
import { policyForRetries } from '../../tasks/common/net/retry';
import { parseReference, parseRepository } from '../../tasks/common/oci/reference';
import type { RegistryCredential } from '../../tasks/common/oci/registry/auth';
import type { Progress } from '../../tasks/common/log';
import { readModelEntries } from '../../tasks/common/oci/modelFiles';
import { planModelLayers, type Compression } from '../../tasks/common/oci/modelLayers';
import { openSegments, tarSegments } from '../../tasks/common/oci/tar';
import type { TestRegistry } from './registry/registry';
import { testServices } from './services';
import { recordingLog } from './capture';

export const MiB = 1024 * 1024;

/** A model folder: a large weights file (own layer), a config and a nested small file. */
export function writeModel(root: string, options: { weightsBytes?: number; version?: string; seed?: number } = {}): string {
  const folder = fs.mkdtempSync(path.join(root, 'model-'));
  fs.mkdirSync(path.join(folder, 'tokenizer'));
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ version: options.version ?? '1.0.0' }));
  fs.writeFileSync(path.join(folder, 'tokenizer', 'vocab.txt'), 'hello\nworld\n');
  fs.writeFileSync(path.join(folder, 'weights.bin'), seeded(options.weightsBytes ?? 70 * MiB, options.seed ?? 1));
  return folder;
}

/** Deterministic incompressible-looking bytes, so two calls with one seed give one file. */
export function seeded(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  // xorshift32: fast, and the same bytes for the same seed on every machine.
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * A model's layer digests as a separate pass computes them, apart from the upload: each layer's
 * whole tar in memory, hashed, and gzipped in one call (mtime 0, installed at /models).
 */
export async function layerDigestsOf(modelPath: string, compression: Compression): Promise<{ digest: string; diffId: string; size: number }[]> {
  const plans = planModelLayers(await readModelEntries(modelPath), '/models');
  return Promise.all(plans.map(async (plan) => {
    const tar = Buffer.concat(await openSegments(tarSegments(plan.entries, 0)).toArray());
    const blob = compression === 'gzip' ? gzipSync(tar) : tar;
    return { digest: sha256(blob), diffId: sha256(tar), size: blob.length };
  }));
}

export function tempRoot(prefix = 'bake-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** What bakeOptions needs to know of a registry: the real one, or a hostile front before it. */
export type RegistryAt = Pick<TestRegistry, 'host' | 'tls'> & Partial<Pick<TestRegistry, 'caPem' | 'username' | 'password'>>;

export function credentialFor(registry: RegistryAt): RegistryCredential {
  return registry.username ? { kind: 'basic', username: registry.username, password: registry.password! } : { kind: 'anonymous' };
}

export function bakeOptions(registry: RegistryAt, overrides: Omit<Partial<BakeOptions>, 'target' | 'baseImage'> & { base: string; target: string; host?: string }): BakeOptions {
  const host = overrides.host ?? registry.host;
  const { base, target, host: _host, ...rest } = overrides;
  return {
    baseImage: parseReference(`${host}/${base}`),
    target: parseRepository(`${host}/${target}`),
    tags: ['v1'],
    modelPath: '',
    bake: { modelDirectory: '/models', modelVersion: '1.0.0', modelDigest: `sha256:${'a'.repeat(64)}`, setModelEnv: true, labels: {}, created: '1970-01-01T00:00:00Z' },
    compression: 'none',
    mtime: 0,
    timeoutMs: 120_000,
    registry: {
      credential: credentialFor(registry),
      insecure: !registry.tls,
      retryPolicy: policyForRetries(4, { baseDelayMs: 50 }),
      chunkSize: 16 * MiB,
      concurrency: 4,
      ...(registry.caPem ? { ca: registry.caPem } : {}),
    },
    ...rest,
  };
}

export interface RecordingContext extends BakeContext {
  readonly lines: string[];
  readonly secrets: string[];
  readonly progressBytes: () => number;
}

export function recordingContext(): RecordingContext {
  const lines: string[] = [];
  const secrets: string[] = [];
  let bytes = 0;
  const log = recordingLog(lines);
  const progress: Progress = { start() {}, advance: (count) => void (bytes += count), finish() {} };
  return { log, progress, onSecret: (value) => secrets.push(value), lines, secrets, progressBytes: () => bytes, ...testServices() };
}
