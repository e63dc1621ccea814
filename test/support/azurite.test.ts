import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import {
  accountSasUrl,
  blobSasUrl,
  containerSasUrl,
  startAzurite,
  type Azurite,
} from './azurite';
import { createTestCa } from './tls';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function statusOf(url: string): Promise<number> {
  const response = await fetch(url);
  await response.arrayBuffer();
  return response.status;
}

describe('azurite', function () {
  this.timeout(60_000);

  describe('over http', () => {
    let azurite: Azurite;
    before(async () => {
      azurite = await startAzurite();
    });
    after(async () => {
      await azurite?.stop();
    });

    it('serves the dev account on a port the OS picked', async () => {
      assert.match(azurite.blobEndpoint, /^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
      assert.notEqual(azurite.port, 10000);
      assert.ok(isRunning(azurite.pid));
    });

    it('uploads and lists a blob through the connection string', async () => {
      const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
      const container = service.getContainerClient('models');
      await container.create();
      await container.getBlockBlobClient('fraud/1.0.0/model.onnx').upload('weights', 7);
      const names = [];
      for await (const blob of container.listBlobsFlat()) names.push(blob.name);
      assert.deepEqual(names, ['fraud/1.0.0/model.onnx']);
    });

    it('accepts container, blob and account SAS URLs, and refuses expired ones', async () => {
      const listing = await new ContainerClient(containerSasUrl(azurite, 'models')).listBlobsFlat().next();
      assert.equal(listing.value?.name, 'fraud/1.0.0/model.onnx');
      const blobUrl = blobSasUrl(azurite, 'models', 'fraud/1.0.0/model.onnx');
      assert.equal(await (await fetch(blobUrl)).text(), 'weights');
      const containers = await new BlobServiceClient(accountSasUrl(azurite)).listContainers().next();
      assert.equal(containers.value?.name, 'models');

      const expired = { expiresOn: new Date(Date.now() - 60_000), startsOn: new Date(Date.now() - 120_000) };
      assert.equal(await statusOf(`${containerSasUrl(azurite, 'models', expired).replace('?', '?restype=container&comp=list&')}`), 403);
      assert.equal(await statusOf(blobSasUrl(azurite, 'models', 'fraud/1.0.0/model.onnx', expired)), 403);
      assert.equal(await statusOf(blobSasUrl(azurite, 'models', 'fraud/1.0.0/model.onnx', { permissions: 'w' })), 403);
    });
  });

  it('stops: the process is gone and its temporary workspace removed', async () => {
    const azurite = await startAzurite();
    assert.ok(fs.existsSync(azurite.location));
    await azurite.stop();
    assert.equal(isRunning(azurite.pid), false);
    assert.equal(fs.existsSync(azurite.location), false);
    await azurite.stop(); // idempotent
    await assert.rejects(fetch(azurite.blobEndpoint));
  });

  it('runs over https with OAuth enabled, with a certificate for 127.0.0.1', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'azurite-cert-'));
    try {
      const certificates = createTestCa(folder);
      const azurite = await startAzurite({ https: certificates, oauth: true });
      try {
        assert.match(azurite.blobEndpoint, /^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
        const ca = fs.readFileSync(certificates.caCert);
        const status = await new Promise<number | undefined>((resolve, reject) => {
          https.get(`${accountSasUrl(azurite)}&comp=list`, { ca }, (response) => {
            response.resume();
            resolve(response.statusCode);
          }).on('error', reject);
        });
        assert.equal(status, 200);
      } finally {
        await azurite.stop();
      }
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it('reports why it could not start', async () => {
    await assert.rejects(startAzurite({ oauth: true }), /OAuth over https/);
    await assert.rejects(
      startAzurite({ https: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } }),
      /Azurite did not start: exited/,
    );
  });
});
