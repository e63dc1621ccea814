/**
 * Bake's attestation step: after the image is pushed, an in-toto Statement (SLSA Provenance v1)
 * for its digest, and for each platform manifest of an index, pushed as referrers; with a signer,
 * also a Sigstore bundle holding the statement in a signed DSSE envelope. The statement is built
 * from the pushed manifest itself (read back by digest), the model on disk and the run's facts.
 */
import type { Log } from '../log';
import { sha256Of } from '../model/fileRecord';
import { installRecord } from '../model/install';
import { readModelEntries } from '../oci/modelFiles';
import type { PipelineRun } from '../oci/modelImage';
import type { Descriptor } from '../oci/layer';
import { readPeerManifest } from '../oci/peerManifest';
import type { RegistryClient } from '../oci/registry/client';
import { Provenance } from '../provenance';
import { sigstoreBundle, SIGSTORE_BUNDLE_V03 } from './bundle';
import { signEnvelope, type Signer } from './dsse';
import { notarySignature } from './notary';
import { attachReferrer, type ReferrersPath } from './referrers';
import { InToto, statementBytes, type ModelFileDigest, type ProvenanceFacts } from './statement';

/** What Bake was asked for; undefined means provenance is off. */
export interface ProvenanceSettings {
  /** This task and its version, e.g. { id: 'BakeModelIntoImage@1', version: '1.2.0' }. */
  readonly builder: ProvenanceFacts['builder'];
  readonly modelUri?: string;
  /** Made when the attestation is pushed (a Key Vault signer needs the run's network and signal). */
  readonly signer?: (client: RegistryClient) => Promise<Signer>;
}

/** The bake's facts the statement repeats. */
export interface BakeFacts {
  readonly repository: string;
  readonly digest: string;
  readonly tags: readonly string[];
  readonly modelDirectory: string;
  readonly modelVersion?: string;
  readonly modelDigest?: string;
  readonly pipelineRun?: PipelineRun;
  /** When the bake began, RFC 3339. */
  readonly startedOn: string;
  /** The model files' digests, hashed while the bake ran. */
  readonly files: Promise<readonly ModelFileDigest[]>;
}

export interface AttestationResult {
  /** The statement's artifact manifest for the pushed digest. */
  readonly provenanceDigest: string;
  /** The Sigstore bundle's artifact manifest, when a signer was given. */
  readonly signatureDigest?: string;
  readonly path: ReferrersPath;
  /** Who signed, for the summary. */
  readonly signer?: string;
  /** The Notary Project signature of the pushed digest, when the key has a certificate. */
  readonly notaryDigest?: string;
  /** How many manifests got a statement: the pushed one and each platform of an index. */
  readonly subjects: number;
}

export const PROVENANCE_ARTIFACT_TYPE = InToto.payloadType;
const PREDICATE_TYPE_ANNOTATION = 'dev.sigstore.bundle.predicateType';

/** Model files' sha256 (hex) by their path inside the model folder, learnt without a read of their own. */
export type LearntDigests = ReadonlyMap<string, string>;

/**
 * The digest of every regular file of the model, by its path inside the model folder. Files Fetch
 * installed and verified, unchanged since (their stat records say so), are not read again, nor are
 * those the bake learnt in its own read (`learnt`: the upload's, or a checked memo's): a re-bake
 * from the memo then reads none of the model. The rest are hashed here.
 */
export async function modelFileDigests(modelPath: string, learnt?: LearntDigests, vouched: Promise<LearntDigests> = installedDigests(modelPath)): Promise<ModelFileDigest[]> {
  const verified = await vouched;
  const files: ModelFileDigest[] = [];
  for (const entry of await readModelEntries(modelPath)) {
    if (entry.type !== 'file' || !entry.source) continue;
    const known = verified.get(entry.relativePath) ?? learnt?.get(entry.relativePath);
    files.push({ path: entry.relativePath, digest: `sha256:${known ?? (await sha256Of(entry.source))}` });
  }
  return files;
}

/** The digests Fetch verified for the model it installed at `modelPath`, when no file changed since (stats only); else none. */
async function installedDigests(modelPath: string): Promise<LearntDigests> {
  const installed = await installRecord(modelPath).catch(() => undefined);
  return new Map(installed?.unchanged ? installed.files.map((file) => [file.relativePath, file.sha256]) : []);
}

/** Whether the bake's read must learn file digests for the attestation: not when Fetch's record vouches for every file. */
export async function fileDigestsWanted(start: AttestationStart, relativePaths: readonly string[]): Promise<boolean> {
  const verified = await start.vouched;
  return relativePaths.some((path) => !verified.has(path));
}

interface Subject {
  readonly descriptor: Descriptor;
  /** The base named by our own annotations on that manifest, when it has them. */
  readonly base?: { readonly name: string; readonly digest: string };
}

function baseOf(annotations: Record<string, string> | undefined): Subject['base'] {
  const name = annotations?.[Provenance.baseName];
  const digest = annotations?.[Provenance.baseDigest];
  return name && digest ? { name, digest } : undefined;
}

async function subjectOf(client: RegistryClient, repository: string, digest: string): Promise<{ subject: Subject; children: Descriptor[] }> {
  const manifest = await client.getManifest(repository, digest);
  const image = `${client.registry}/${repository}@${digest}`;
  const peer = readPeerManifest(manifest, image);
  const annotations = (JSON.parse(manifest.bytes.toString('utf8')) as { annotations?: Record<string, string> }).annotations;
  return {
    subject: { descriptor: { mediaType: peer.mediaType, digest, size: manifest.bytes.length }, base: baseOf(annotations) },
    children: peer.kind === 'index' ? [...peer.manifests] : [],
  };
}

/** The pushed manifest first, then each platform manifest of an index. */
async function subjectsOf(client: RegistryClient, repository: string, digest: string): Promise<Subject[]> {
  const top = await subjectOf(client, repository, digest);
  const subjects = [top.subject];
  for (const child of top.children) subjects.push((await subjectOf(client, repository, child.digest)).subject);
  return subjects;
}

function factsFor(subject: Subject, bake: BakeFacts, settings: ProvenanceSettings, files: readonly ModelFileDigest[], registry: string): ProvenanceFacts {
  const run = bake.pipelineRun;
  return {
    subject: { name: `${registry}/${bake.repository}`, digest: subject.descriptor.digest },
    builder: settings.builder,
    ...(subject.base ? { baseImage: subject.base } : {}),
    model: { uri: settings.modelUri, digest: bake.modelDigest, version: bake.modelVersion, directory: bake.modelDirectory, files },
    source: { uri: run?.sourceUrl, revision: run?.revision },
    run: { url: run?.runUrl, pipelineName: run?.pipelineName, startedOn: bake.startedOn, finishedOn: new Date().toISOString() },
    tags: bake.tags,
  };
}

/** Attaches the statement (and its signed bundle) to the pushed image and each of its platforms. */
export async function attestBake(client: RegistryClient, bake: BakeFacts, settings: ProvenanceSettings, log: Log): Promise<AttestationResult> {
  const signer = settings.signer ? await settings.signer(client) : undefined;
  const files = await bake.files;
  const subjects = await subjectsOf(client, bake.repository, bake.digest);
  // Each subject has its own referrers (its own tag index), so they are attached side by side.
  const results = await Promise.all(subjects.map(async (subject) => {
    const statement = statementBytes(factsFor(subject, bake, settings, files, client.registry));
    const annotations = { 'in-toto.io/predicate-type': InToto.slsaProvenance };
    const provenance = await attachReferrer(client, bake.repository, subject.descriptor, { artifactType: PROVENANCE_ARTIFACT_TYPE, content: statement, annotations });
    let signature: string | undefined;
    if (signer) {
      const bundle = sigstoreBundle(await signEnvelope(InToto.payloadType, statement, signer), signer.hint);
      signature = (await attachReferrer(client, bake.repository, subject.descriptor, { artifactType: SIGSTORE_BUNDLE_V03, content: Buffer.from(JSON.stringify(bundle)), annotations: { [PREDICATE_TYPE_ANNOTATION]: InToto.slsaProvenance } })).digest;
    }
    log.debug(`attested ${subject.descriptor.digest}: provenance ${provenance.digest}${signature ? `, signature ${signature}` : ''} (${provenance.path})`);
    return { provenance: provenance.digest, signature, path: provenance.path };
  }));
  const [first] = results;
  const notary = signer ? await notarySignature(subjects[0].descriptor, signer, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), `${settings.builder.id} ${settings.builder.version}`) : undefined;
  const notaryDigest = notary ? (await attachReferrer(client, bake.repository, subjects[0].descriptor, notary)).digest : undefined;
  return { provenanceDigest: first.provenance, ...(first.signature ? { signatureDigest: first.signature } : {}), path: first.path, ...(signer ? { signer: signer.description } : {}), ...(notaryDigest ? { notaryDigest } : {}), subjects: results.length };
}

/** What a bake knows that the statement repeats: where it pushed, the model and the run. */
export interface AttestedBake {
  readonly target: { readonly repository: string };
  readonly tags: readonly string[];
  readonly modelPath: string;
  readonly bake: { readonly modelDirectory: string; readonly modelVersion?: string; readonly modelDigest?: string; readonly pipelineRun?: PipelineRun };
  readonly provenance?: ProvenanceSettings;
}

/** What an attestation needs from the start of the bake: its time, and the model files hashed meanwhile. */
export interface AttestationStart {
  readonly startedOn: string;
  readonly files: Promise<readonly ModelFileDigest[]>;
  /** The digests Fetch's install record vouches for, read once for the bake and the attestation. */
  readonly vouched: Promise<LearntDigests>;
}

/**
 * Bake's call as it starts: undefined when provenance is off, else the files are hashed beside the
 * bake's own reading, or, given `learnt`, once the bake's read has said which files it hashed.
 * `modelPath` undefined: the model is not on disk (a zero-copy bake), and the statement lists no files.
 */
export function beginAttestation(options: { readonly provenance?: ProvenanceSettings; readonly modelPath?: string; readonly learnt?: Promise<LearntDigests | undefined> }): AttestationStart | undefined {
  if (!options.provenance) return undefined;
  const { modelPath } = options;
  const vouched: Promise<LearntDigests> = modelPath === undefined ? Promise.resolve(new Map()) : installedDigests(modelPath);
  const files = modelPath === undefined ? Promise.resolve([]) : options.learnt ? options.learnt.then((learnt) => modelFileDigests(modelPath, learnt, vouched)) : modelFileDigests(modelPath, undefined, vouched);
  // Awaited after the push; a bake that fails first must not leave this rejection unhandled.
  files.catch(() => undefined);
  return { startedOn: new Date().toISOString(), files, vouched };
}

/** Bake's call after its push: nothing when provenance is off, else the attestation of `digest`. */
export async function attestPushed(client: RegistryClient, options: AttestedBake, digest: string, start: AttestationStart | undefined, log: Log): Promise<AttestationResult | undefined> {
  if (!options.provenance || !start) return undefined;
  const { bake } = options;
  const facts: BakeFacts = { repository: options.target.repository, digest, tags: options.tags, modelDirectory: bake.modelDirectory, modelVersion: bake.modelVersion, modelDigest: bake.modelDigest, pipelineRun: bake.pipelineRun, ...start };
  const result = await attestBake(client, facts, options.provenance, log);
  log.info('ProvenanceAttached', `${client.registry}/${options.target.repository}@${digest}`, result.subjects, result.path === 'referrersApi' ? 'referrers API' : 'referrers tag schema', result.provenanceDigest, result.signatureDigest ? `, signed by ${result.signer} in ${result.signatureDigest}${result.notaryDigest ? `, Notary Project signature ${result.notaryDigest}` : ''}` : ', unsigned');
  return result;
}
