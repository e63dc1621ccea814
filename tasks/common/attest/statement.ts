/**
 * The in-toto Statement v1 a bake attaches to its image, with a SLSA Provenance v1 predicate, as a
 * pure function of what the bake knew. The same facts give the same bytes: objects are built in one
 * fixed key order, lists are sorted, and only the run's start and finish times vary between runs.
 */

export const InToto = Object.freeze({
  statementType: 'https://in-toto.io/Statement/v1',
  payloadType: 'application/vnd.in-toto+json',
  slsaProvenance: 'https://slsa.dev/provenance/v1',
});

/** What the build type URI names: this task's way of turning a base image and a model into an image. */
export const BAKE_BUILD_TYPE = 'https://github.com/ai-model-delivery/tasks/BakeModelIntoImage/v1';

export interface ModelFileDigest {
  /** Path inside the model folder, '/' separated. */
  readonly path: string;
  readonly digest: string;
}

/** Everything a statement says, in plain values. Digests are `algorithm:hex`. */
export interface ProvenanceFacts {
  /** registry/repository of the image, and the digest the statement is about. */
  readonly subject: { readonly name: string; readonly digest: string };
  /** This task and its version, e.g. BakeModelIntoImage@1.2.0. */
  readonly builder: { readonly id: string; readonly version: string };
  readonly baseImage?: { readonly name: string; readonly digest: string };
  readonly model: {
    readonly uri?: string;
    readonly digest?: string;
    readonly version?: string;
    readonly directory: string;
    readonly files: readonly ModelFileDigest[];
  };
  readonly source?: { readonly uri?: string; readonly revision?: string };
  readonly run: { readonly url?: string; readonly pipelineName?: string; readonly startedOn: string; readonly finishedOn: string };
  readonly tags: readonly string[];
}

export interface ResourceDescriptor {
  readonly name?: string;
  readonly uri?: string;
  readonly digest: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** `sha256:abc` -> `{ sha256: 'abc' }`, the digest set of in-toto. */
export function digestSet(digest: string): Record<string, string> {
  const at = digest.indexOf(':');
  return { [digest.slice(0, at)]: digest.slice(at + 1) };
}

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined && item !== '')) as T;
}

/** What the image was made of: the base, the model and each of its files, the source commit. */
export function resolvedDependencies(facts: ProvenanceFacts): ResourceDescriptor[] {
  const { baseImage, model, source } = facts;
  const dependencies: ResourceDescriptor[] = [];
  if (baseImage) dependencies.push({ name: 'baseImage', uri: `oci://${baseImage.name}`, digest: digestSet(baseImage.digest) });
  if (model.digest || model.uri) dependencies.push(defined({ name: 'model', uri: model.uri, digest: model.digest ? digestSet(model.digest) : {}, annotations: model.version ? { version: model.version } : undefined }));
  const files = [...model.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of files) dependencies.push({ name: `model/${file.path}`, digest: digestSet(file.digest) });
  if (source?.uri || source?.revision) dependencies.push(defined({ name: 'source', uri: source.uri ? `git+${source.uri}` : undefined, digest: (source.revision ? { gitCommit: source.revision } : {}) as Record<string, string> }));
  return dependencies;
}

/** The statement as a plain object, keys in the order they are serialised. */
export function provenanceStatement(facts: ProvenanceFacts) {
  return {
    _type: InToto.statementType,
    subject: [{ name: facts.subject.name, digest: digestSet(facts.subject.digest) }],
    predicateType: InToto.slsaProvenance,
    predicate: {
      buildDefinition: {
        buildType: BAKE_BUILD_TYPE,
        externalParameters: defined({
          baseImage: facts.baseImage?.name,
          image: facts.subject.name,
          tags: [...facts.tags],
          modelUri: facts.model.uri,
          modelDigest: facts.model.digest,
          modelVersion: facts.model.version,
          modelDirectory: facts.model.directory,
        }),
        resolvedDependencies: resolvedDependencies(facts),
      },
      runDetails: {
        builder: { id: facts.builder.id, version: { [facts.builder.id.split('@')[0]]: facts.builder.version } },
        metadata: defined({ invocationId: facts.run.url, startedOn: facts.run.startedOn, finishedOn: facts.run.finishedOn }),
      },
    },
  };
}

export type ProvenanceStatement = ReturnType<typeof provenanceStatement>;

/** The bytes that are pushed and signed: compact JSON of the statement. */
export function statementBytes(facts: ProvenanceFacts): Buffer {
  return Buffer.from(JSON.stringify(provenanceStatement(facts)));
}
