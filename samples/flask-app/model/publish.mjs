#!/usr/bin/env node
// Publishes a trained model folder to Azure Blob Storage the way Fetch Latest Model reads it:
//   <prefix><version>/<file>, each blob with a `sha256` metadata entry (hex of the file),
//   and index tags (e.g. stage=approved, for `selection: tagQuery`) set only once every file is up.
//
//   node publish.mjs --model DIR --container models --prefix churn/ --tag stage=approved
//
// Credentials come from the environment, first found wins:
//   AZURE_STORAGE_CONNECTION_STRING  a connection string (account key)
//   AZURE_STORAGE_SAS_URL            an account SAS URL, or a container SAS URL (then omit --container);
//                                    needs write and list, and tag (t) for --tag
//   AZURE_STORAGE_ACCOUNT_URL        https://<account>.blob.core.windows.net, signed in with Entra ID
//                                    (az login, workload identity...): Storage Blob Data Contributor
// Uses @azure/storage-blob (and @azure/identity for Entra ID), both dependencies of this repository.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';

// The version grammar of Fetch Latest Model (tasks/common/model/version.ts): 1.2.0, v2, 1.0.0-rc.1, 2026-11-20.
const VERSION = /^[vV]?(?:\d{4}-\d{2}-\d{2}(?:[._-]\d+)*|\d+(?:\.\d+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z.-]+)?)$/;
const USAGE = 'usage: publish.mjs --model DIR [--container NAME] [--prefix churn/] [--version V] [--tag KEY=VALUE]... [--create-container] [--overwrite]';

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      container: { type: 'string' },
      prefix: { type: 'string', default: '' },
      version: { type: 'string' },
      tag: { type: 'string', multiple: true, default: [] },
      'create-container': { type: 'boolean', default: false },
      overwrite: { type: 'boolean', default: false },
    },
  });
  if (!values.model) throw new Error(`--model is required\n${USAGE}`);
  const tags = Object.fromEntries(values.tag.map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--tag ${pair}: write KEY=VALUE, e.g. stage=approved`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }));
  const prefix = values.prefix && !values.prefix.endsWith('/') ? `${values.prefix}/` : values.prefix;
  return { ...values, prefix, tags };
}

/** The model's files, relative paths with forward slashes, sorted byte-wise as Fetch sorts them. */
function modelFiles(folder) {
  const entries = readdirSync(folder, { recursive: true, withFileTypes: true });
  const files = [];
  for (const entry of entries) {
    const path = join(entry.parentPath ?? entry.path, entry.name);
    if (entry.isDirectory()) continue;
    if (!entry.isFile()) throw new Error(`${path} is not a regular file (links, pipes and devices are not published)`);
    files.push({ path, name: relative(folder, path).split(sep).join('/') });
  }
  if (files.length === 0) throw new Error(`${folder} holds no files`);
  return files.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

function modelVersion(folder, given) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(join(folder, 'metadata.json'), 'utf8')).version;
  } catch {
    // No metadata.json: --version must say it.
  }
  const version = given ?? recorded;
  if (!version) throw new Error(`no version: pass --version, or publish a folder whose metadata.json has one`);
  if (given && recorded && given !== recorded) throw new Error(`--version ${given} disagrees with metadata.json's version ${recorded}`);
  if (!VERSION.test(version)) throw new Error(`version '${version}' is not one Fetch Latest Model recognizes (e.g. 1.2.0, v2, 1.0.0-rc.1, 2026-11-20)`);
  return version;
}

async function sha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

async function containerClient(name) {
  const env = process.env;
  if (env.AZURE_STORAGE_CONNECTION_STRING) {
    return BlobServiceClient.fromConnectionString(env.AZURE_STORAGE_CONNECTION_STRING).getContainerClient(need(name));
  }
  if (env.AZURE_STORAGE_SAS_URL) {
    return name ? new BlobServiceClient(env.AZURE_STORAGE_SAS_URL).getContainerClient(name) : new ContainerClient(env.AZURE_STORAGE_SAS_URL);
  }
  if (env.AZURE_STORAGE_ACCOUNT_URL) {
    const { DefaultAzureCredential } = await import('@azure/identity');
    return new BlobServiceClient(env.AZURE_STORAGE_ACCOUNT_URL, new DefaultAzureCredential()).getContainerClient(need(name));
  }
  throw new Error('set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_URL or AZURE_STORAGE_ACCOUNT_URL');
}

function need(container) {
  if (!container) throw new Error('--container is required (except with a container SAS URL)');
  return container;
}

const withoutQuery = (url) => url.split('?')[0];

async function publish(argv) {
  const args = options(argv);
  const version = modelVersion(args.model, args.version);
  const files = modelFiles(args.model);
  const container = await containerClient(args.container);
  if (args['create-container']) await container.createIfNotExists();
  const folder = `${args.prefix}${version}/`;
  // A published version is immutable: Fetch's digest and any baked image refer to these bytes.
  for await (const existing of container.listBlobsFlat({ prefix: folder })) {
    if (!args.overwrite) throw new Error(`${folder} already holds ${existing.name}: publish a new version (or --overwrite to repair a failed publish)`);
    await container.deleteBlob(existing.name);
  }
  const listing = [];
  let bytes = 0;
  for (const file of files) {
    const digest = await sha256(file.path);
    const contentType = file.name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    await container.getBlockBlobClient(folder + file.name).uploadFile(file.path, {
      metadata: { sha256: digest },
      blobHTTPHeaders: { blobContentType: contentType },
    });
    listing.push(`${digest}  ${file.name}\n`);
    bytes += lstatSync(file.path).size;
    console.log(`uploaded ${folder}${file.name} sha256=${digest}`);
  }
  // Tags last, so an approval never points at a half-uploaded version.
  if (Object.keys(args.tags).length > 0) {
    for (const file of files) await container.getBlockBlobClient(folder + file.name).setTags(args.tags);
    console.log(`tagged ${folder} ${Object.entries(args.tags).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  // The digest Fetch Latest Model will report for this folder model (sha256 of the sha256sum listing).
  const modelDigest = `sha256:${createHash('sha256').update(listing.join('')).digest('hex')}`;
  console.log(`published ${withoutQuery(container.url)}/${folder} (${files.length} files, ${bytes} bytes)`);
  console.log(`modelVersion ${version}`);
  console.log(`modelDigest ${modelDigest}`);
}

publish(process.argv.slice(2)).catch((error) => {
  const status = error.statusCode ? ` (HTTP ${error.statusCode}${error.code ? ` ${error.code}` : ''})` : '';
  console.error(`publish: ${String(error.message).split('\n')[0]}${status}`);
  if (!error.statusCode && String(error.message).includes('\n')) console.error(String(error.message).split('\n').slice(1).join('\n'));
  process.exit(1);
});
