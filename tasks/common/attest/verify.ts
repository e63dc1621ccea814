/**
 * Deploy's provenance gate: before anything is applied, the image's signed attestation must exist
 * among its referrers, verify with one of the trusted keys, be about the digest being deployed and
 * name the expected model. Everything read from the registry is fetched by digest and checked.
 */
import { promises as fs } from 'node:fs';
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { SettingError, TaskError } from '../errors';
import type { Log } from '../log';
import type { Network } from '../net/network';
import type { RetryPolicy } from '../net/retry';
import { peerValue } from '../oci/digest';
import { readPeerManifest } from '../oci/peerManifest';
import { parseReference, type ImageReference } from '../oci/reference';
import type { RegistryCredential } from '../oci/registry/auth';
import { explainRegistryFailure, RegistryClient } from '../oci/registry/client';
import { envelopeOf, SIGSTORE_BUNDLE_V03 } from './bundle';
import { keyHint, verifyEnvelope, type DsseEnvelope } from './dsse';
import { listReferrers, type ReferrerDescriptor } from './referrers';
import { InToto } from './statement';

export type ProvenanceSetting = 'trustedPublicKeys' | 'modelDigest' | 'image';

export interface ProvenanceGate {
  /** repository@sha256:..., as deployed. */
  readonly image: string;
  readonly credential: RegistryCredential;
  readonly insecure: boolean;
  readonly trustedKeysFile: string;
  readonly modelDigest?: string;
}

export interface GateContext {
  readonly network: Network;
  readonly signal: AbortSignal;
  readonly log: Log;
  readonly retryPolicy: RetryPolicy;
  readonly onSecret: (value: string) => void;
}

export interface VerifiedProvenance {
  /** The bundle's artifact manifest digest. */
  readonly bundle: string;
  /** The trusted key that verified it, by its hint. */
  readonly signer: string;
  /** The model the statement names: URI and digest, as far as it says. */
  readonly model: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** Every public key and certificate of a PEM file, as public keys. */
export async function readTrustedKeys(file: string): Promise<KeyObject[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new SettingError<ProvenanceSetting>('trustedPublicKeys', 'TrustedKeysUnreadable', [file, (error as Error).message], { cause: error });
  }
  const keys: KeyObject[] = [];
  const problems: string[] = [];
  for (const [block, kind] of text.matchAll(PEM_BLOCK)) {
    try {
      if (kind === 'CERTIFICATE') keys.push(new X509Certificate(block).publicKey);
      else if (/PUBLIC KEY$/.test(kind)) keys.push(createPublicKey(block));
      else problems.push(`a ${kind} block is not a public key`);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (keys.length === 0) throw new SettingError<ProvenanceSetting>('trustedPublicKeys', 'TrustedKeysUnreadable', [file, problems.join('; ') || 'no PEM block']);
  return keys;
}

interface Statement {
  readonly subject?: readonly { readonly digest?: Readonly<Record<string, string>> }[];
  readonly predicateType?: string;
  readonly predicate?: { readonly buildDefinition?: { readonly resolvedDependencies?: readonly { readonly name?: string; readonly uri?: string; readonly digest?: Readonly<Record<string, string>> }[] } };
}

/** The statement an envelope carries, or a reason it is not one. */
function statementOf(envelope: DsseEnvelope): Statement | string {
  if (envelope.payloadType !== InToto.payloadType) return `its payload type is ${peerValue(envelope.payloadType)}, not ${InToto.payloadType}`;
  try {
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Statement;
    if (statement && typeof statement === 'object' && Array.isArray(statement.subject)) return statement;
  } catch {
    // reported below
  }
  return 'its payload is not an in-toto statement';
}

function modelOf(statement: Statement): { uri?: string; digest?: string } {
  const model = statement.predicate?.buildDefinition?.resolvedDependencies?.find((dependency) => dependency?.name === 'model');
  const sha256 = model?.digest?.sha256;
  return { uri: typeof model?.uri === 'string' ? model.uri : undefined, digest: typeof sha256 === 'string' ? `sha256:${sha256}` : undefined };
}

interface Check {
  readonly reference: ImageReference & { readonly digest: string };
  readonly image: string;
  readonly keys: readonly KeyObject[];
  readonly modelDigest?: string;
}

/** One bundle through every check; the first that fails is thrown. */
async function checkBundle(client: RegistryClient, referrer: ReferrerDescriptor, check: Check): Promise<VerifiedProvenance> {
  const { reference, image } = check;
  const where = `${client.registry}/${reference.repository}@${referrer.digest}`;
  const peer = readPeerManifest(await client.getManifest(reference.repository, referrer.digest), where);
  const layer = peer.kind === 'manifest' ? peer.layers.find((entry) => entry.mediaType === SIGSTORE_BUNDLE_V03) : undefined;
  if (!layer) throw new TaskError('ProvenanceUnreadable', [referrer.digest, image, 'it holds no Sigstore bundle layer']);
  let bundle: unknown;
  try {
    bundle = JSON.parse((await client.readConfig(reference.repository, layer.digest, where)).toString('utf8'));
  } catch (error) {
    if (error instanceof TaskError) throw error;
    throw new TaskError('ProvenanceUnreadable', [referrer.digest, image, 'its bundle is not JSON']);
  }
  const envelope = envelopeOf(bundle);
  if (!envelope) throw new TaskError('ProvenanceUnreadable', [referrer.digest, image, 'it is not a Sigstore bundle v0.3 with a DSSE envelope']);
  const hint = String((bundle as { verificationMaterial?: { publicKey?: { hint?: unknown } } }).verificationMaterial?.publicKey?.hint ?? '');
  const key = verifyEnvelope(envelope, check.keys);
  if (!key) {
    const named = check.keys.find((candidate) => keyHint(candidate) === hint);
    if (named) throw new TaskError('ProvenanceSignatureInvalid', [referrer.digest, image, hint]);
    throw new SettingError<ProvenanceSetting>('trustedPublicKeys', 'ProvenanceUntrusted', [referrer.digest, image, check.keys.length, peerValue(hint)]);
  }
  const statement = statementOf(envelope);
  if (typeof statement === 'string') throw new TaskError('ProvenanceUnreadable', [referrer.digest, image, statement]);
  const [algorithm, hex] = reference.digest.split(':');
  const subjects = statement.subject!.map((entry) => entry?.digest?.[algorithm]).filter((value): value is string => typeof value === 'string');
  if (!subjects.includes(hex)) throw new TaskError('ProvenanceWrongSubject', [referrer.digest, subjects.map((value) => peerValue(`${algorithm}:${value}`)).join(', ') || 'no digest', reference.digest]);
  const model = modelOf(statement);
  if (check.modelDigest && model.digest !== check.modelDigest) throw new SettingError<ProvenanceSetting>('modelDigest', 'ProvenanceModelMismatch', [referrer.digest, image, peerValue(model.digest ?? 'none'), check.modelDigest]);
  return { bundle: referrer.digest, signer: keyHint(key), model: [model.uri, model.digest].filter(Boolean).join(' ') || '(not named)' };
}

/** Runs the gate; resolves with who signed and which model, or throws the failure of the best candidate. */
export async function verifyProvenance(gate: ProvenanceGate, context: GateContext): Promise<VerifiedProvenance> {
  const reference = parseReference(gate.image);
  const { digest } = reference;
  if (!digest) throw new SettingError<ProvenanceSetting>('image', 'ProvenanceImageNotByDigest', [gate.image]);
  const keys = await readTrustedKeys(gate.trustedKeysFile);
  const client = new RegistryClient(reference.registry, { ...context, credential: gate.credential, insecure: gate.insecure, scopes: [`repository:${reference.repository}:pull`] });
  const check: Check = { reference: { ...reference, digest }, image: gate.image, keys, ...(gate.modelDigest ? { modelDigest: gate.modelDigest } : {}) };
  try {
    const { referrers, path } = await listReferrers(client, reference.repository, digest, SIGSTORE_BUNDLE_V03);
    if (referrers.length === 0) throw new TaskError('ProvenanceMissing', [gate.image, path === 'referrersApi' ? 'the referrers API' : `the referrers tag ${digest.replace(':', '-')}`]);
    let failure: unknown;
    for (const referrer of referrers) {
      try {
        const verified = await checkBundle(client, referrer, check);
        context.log.info('ProvenanceVerified', gate.image, verified.signer, verified.model);
        return verified;
      } catch (error) {
        if (!(error instanceof TaskError)) throw error;
        failure ??= error;
      }
    }
    throw failure;
  } catch (error) {
    throw explainRegistryFailure(error, reference.registry);
  }
}
