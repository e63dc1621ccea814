import { createHash, randomBytes } from 'node:crypto';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

/** Publishes model versions the way a data scientist does: bytes, a sha256 metadata entry, tags. */
export class ModelPublisher {
  readonly container: ContainerClient;
  constructor(connectionString: string, containerName: string) {
    this.container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
  }

  async create(): Promise<this> {
    await this.container.createIfNotExists();
    return this;
  }

  /** Uploads one blob; returns its sha256 hex. `sha256` overrides the published metadata (to lie). */
  async publish(name: string, data: Buffer, options: { tags?: Record<string, string>; sha256?: string | null; contentMd5?: Buffer } = {}): Promise<string> {
    const digest = sha256(data);
    const metadata = options.sha256 === null ? undefined : { sha256: options.sha256 ?? digest };
    const blob = this.container.getBlockBlobClient(name);
    await blob.uploadData(data, { metadata, tags: options.tags });
    // Set Blob Properties stores Content-MD5 as given (an upload would validate it).
    if (options.contentMd5) await blob.setHTTPHeaders({ blobContentMD5: options.contentMd5 });
    return digest;
  }
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export { randomBytes };
