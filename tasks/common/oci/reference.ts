/**
 * Image references as the distribution spec and Docker's reference grammar define them:
 * [registry/]repository[:tag][@digest]. Pure: parsing, validation and formatting only.
 */
import { isIPv6 } from 'node:net';

export interface ImageReference {
  /** Registry host with optional port, e.g. "myacr.azurecr.io" or "127.0.0.1:5000". */
  readonly registry: string;
  /** Repository path inside the registry, e.g. "churn-app" or "team/churn-app". */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Why a reference is unusable, in words a pipeline author can act on. */
export class ReferenceError extends Error {}

const DOCKER_HUB = 'registry-1.docker.io';
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isValidDigest(digest: string): boolean {
  return DIGEST.test(digest);
}

/** A host name or IPv6 literal with an optional port, as a URL can carry them. */
function isHost(text: string): boolean {
  const port = /:(\d+)$/.exec(text)?.[1];
  const literal = /^\[([^\]]*)\]/.exec(text)?.[1];
  return HOST.test(text) && (port === undefined || Number(port) <= 65_535) && (literal === undefined || isIPv6(literal));
}

/** A first path segment is a registry host when it has a dot or a port, or is localhost (Docker's rule). */
function looksLikeHost(segment: string): boolean {
  return segment.includes('.') || segment.includes(':') || segment === 'localhost';
}

function splitDigest(text: string): [string, string | undefined] {
  const at = text.indexOf('@');
  if (at < 0) return [text, undefined];
  const digest = text.slice(at + 1);
  if (!isValidDigest(digest)) throw new ReferenceError(`'${digest}' is not a sha256 digest (sha256: followed by 64 lower-case hex characters)`);
  return [text.slice(0, at), digest];
}

function splitTag(text: string): [string, string | undefined] {
  const colon = text.lastIndexOf(':');
  if (colon < 0 || text.indexOf('/', colon) >= 0) return [text, undefined];
  const tag = text.slice(colon + 1);
  if (!isValidTag(tag)) throw new ReferenceError(`'${tag}' is not a valid tag (letters, digits, '_', '.', '-'; up to 128 characters; not starting with '.' or '-')`);
  return [text.slice(0, colon), tag];
}

/** Parses a reference; Docker Hub short names ("python:3.12") get Docker's defaults. */
export function parseReference(text: string): ImageReference {
  const trimmed = text.trim();
  if (!trimmed) throw new ReferenceError('the reference is empty');
  if (/\s/.test(trimmed)) throw new ReferenceError('a reference has no spaces');
  const [withoutDigest, digest] = splitDigest(trimmed);
  const [name, tag] = splitTag(withoutDigest);
  const segments = name.split('/');
  let registry = DOCKER_HUB;
  if (segments.length > 1 && looksLikeHost(segments[0])) {
    registry = segments.shift()!;
    if (!isHost(registry)) throw new ReferenceError(`'${registry}' is not a registry host name`);
  } else if (segments.length === 1) {
    segments.unshift('library');
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') registry = DOCKER_HUB;
  const bad = segments.find((segment) => !COMPONENT.test(segment));
  if (bad !== undefined) {
    throw new ReferenceError(`repository part '${bad}' is not valid (lower-case letters and digits, separated by '.', '_', '__' or '-')`);
  }
  const repository = segments.join('/');
  if (registry.length + 1 + repository.length > 255) throw new ReferenceError('the name is longer than 255 characters');
  return Object.freeze({ registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) });
}

/** A repository without tag or digest, e.g. "myacr.azurecr.io/churn-app". Used as a target. */
export function parseRepository(text: string): ImageReference {
  const reference = parseReference(text);
  if (reference.tag || reference.digest) throw new ReferenceError('give a repository without a tag or digest');
  return reference;
}

export function repositoryName(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}`;
}

/** registry/repository@digest when pinned, else :tag, else :latest as Docker does. */
export function formatReference(reference: ImageReference): string {
  if (reference.digest) return `${repositoryName(reference)}@${reference.digest}`;
  return `${repositoryName(reference)}:${reference.tag ?? 'latest'}`;
}

/** What to ask the registry for: the digest when the reference pins one, else the tag. */
export function manifestReference(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? 'latest';
}
