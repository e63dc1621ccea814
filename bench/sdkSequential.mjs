// The baseline the issue names: the SDK's plain sequential download() stream, written to a file.
// Plain JavaScript so it starts as fast as a bundle would. Prints elapsed milliseconds as JSON.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { BlobServiceClient } from '@azure/storage-blob';

const [connectionString, container, blob, target] = process.argv.slice(2);
const started = performance.now();
const response = await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).getBlobClient(blob).download();
await pipeline(response.readableStreamBody, createWriteStream(target));
console.log(JSON.stringify({ ms: performance.now() - started }));
