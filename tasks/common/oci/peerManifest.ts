/**
 * Manifests, indexes and configs as a registry sends them: parsed, and every field we use checked
 * before use. A descriptor's digest decides what is fetched next and shows in messages, so a value
 * that is not a digest (a line break and an agent command, say) is refused here, quoted.
 */
import { RemoteError } from '../errors';
import { isContentDigest, peerValue } from './digest';
import type { ImageConfigFile } from './image';
import type { Descriptor, Platform } from './layer';
import { isIndex, isManifest } from './mediaTypes';
import type { Manifest } from './registry/client';

export type PeerManifest =
  | { readonly kind: 'manifest'; readonly mediaType: string; readonly config: Descriptor; readonly layers: readonly Descriptor[] }
  | { readonly kind: 'index'; readonly mediaType: string; readonly manifests: readonly Descriptor[] }
  | { readonly kind: 'other'; readonly mediaType: string };

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks peer JSON for one image; every failure names the image and the field. */
class PeerJson {
  constructor(private readonly image: string) {}

  fail(why: string): never {
    throw new RemoteError('ManifestInvalid', [this.image, why]);
  }

  parse(bytes: Buffer, what: string): Json {
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.fail(`${what} is not JSON`);
    }
    return isObject(value) ? value : this.fail(`${what} is not a JSON object`);
  }

  list(value: unknown, where: string): readonly unknown[] {
    return Array.isArray(value) ? value : this.fail(`${where} is not a list`);
  }

  strings(value: unknown, where: string): readonly string[] {
    const list = this.list(value, where);
    return list.every((item) => typeof item === 'string') ? (list as string[]) : this.fail(`${where} holds a value that is not text`);
  }

  platform(value: unknown, where: string): Platform {
    if (!isObject(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') this.fail(`${where} has a platform without os and architecture`);
    const optional = (key: string) => (typeof value[key] === 'string' ? { [key]: value[key] } : {});
    const features = value['os.features'] === undefined ? {} : { 'os.features': this.strings(value['os.features'], `${where} os.features`) };
    return { os: value.os, architecture: value.architecture, ...optional('variant'), ...optional('os.version'), ...features };
  }

  descriptor(value: unknown, where: string): Descriptor {
    if (!isObject(value)) this.fail(`${where} is not a descriptor`);
    const { mediaType, digest, size, platform } = value;
    if (!isContentDigest(digest)) this.fail(`${where} has digest ${peerValue(digest)}, which is not a sha256 or sha512 digest`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) this.fail(`${where} has size ${peerValue(size)}`);
    if (typeof mediaType !== 'string') this.fail(`${where} has no media type`);
    return { mediaType, digest, size, ...(platform === undefined ? {} : { platform: this.platform(platform, where) }) };
  }

  descriptors(value: unknown, where: string): readonly Descriptor[] {
    return this.list(value, `${where}s`).map((item, index) => this.descriptor(item, `${where} ${index + 1}`));
  }
}

/** A manifest or index the registry sent for `image`, with every descriptor checked. */
export function readPeerManifest(manifest: Manifest, image: string): PeerManifest {
  const peer: PeerJson = new PeerJson(image);
  const json = peer.parse(manifest.bytes, 'the manifest');
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : manifest.contentType;
  if (isManifest(mediaType)) return { kind: 'manifest', mediaType, config: peer.descriptor(json.config, 'the config descriptor'), layers: peer.descriptors(json.layers, 'layer') };
  if (isIndex(mediaType)) return { kind: 'index', mediaType, manifests: peer.descriptors(json.manifests, 'index entry') };
  return { kind: 'other', mediaType };
}

/** An image config the registry sent, with the fields the bake reads or extends checked. */
export function readPeerConfig(bytes: Buffer, image: string): ImageConfigFile {
  const peer: PeerJson = new PeerJson(image);
  const config = peer.parse(bytes, 'the config');
  const rootfs = config.rootfs;
  if (!isObject(rootfs)) peer.fail('the config has no rootfs');
  peer.strings(rootfs.diff_ids, 'rootfs.diff_ids').forEach((diffId, index) => {
    if (!isContentDigest(diffId)) peer.fail(`rootfs.diff_ids ${index + 1} is ${peerValue(diffId)}, which is not a digest`);
  });
  if (config.history !== undefined) peer.list(config.history, 'history');
  const container = config.config;
  if (container !== undefined && container !== null) {
    if (!isObject(container)) peer.fail('config is not an object');
    if (container.Env !== undefined && container.Env !== null) peer.strings(container.Env, 'config.Env');
    if (container.Labels !== undefined && container.Labels !== null && !isObject(container.Labels)) peer.fail('config.Labels is not an object');
  }
  return config as ImageConfigFile;
}
