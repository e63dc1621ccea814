/**
 * Azure DevOps REST clients lose the answer's headers in their status errors; the network adapter
 * keeps a throttled answer's Retry-After on the error, so the one retry policy waits as asked.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BuildApi } from 'azure-devops-node-api/BuildApi';
import { devOpsApi, requestHandler } from '../../tasks/common/devops/http';
import { DEVOPS_CLIENT_OPTIONS } from '../../tasks/common/net/adapters/devopsHttp';
import { Network } from '../../tasks/common/net/network';
import { backoffDelay, retryAfterOf, retryPolicy } from '../../tasks/common/net/retry';

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => assert.fail('expected the call to fail'), (error: unknown) => error);
}

describe('Azure DevOps REST clients and Retry-After', () => {
  let server: http.Server;
  let retryAfter: string | undefined;
  let collection: string;

  before(async () => {
    server = http.createServer((request, response) => {
      request.resume();
      response.writeHead(429, { 'content-type': 'application/json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) });
      response.end(JSON.stringify({ message: 'Request was blocked due to exceeding usage of resource.', typeKey: 'RequestBlockedException' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    collection = `http://127.0.0.1:${(server.address() as AddressInfo).port}/org/`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function builds(): BuildApi {
    return devOpsApi(new BuildApi(collection, [requestHandler({ kind: 'pat', token: 'not-a-real-pat', connection: 'devops-connection' })], DEVOPS_CLIENT_OPTIONS), new Network());
  }

  it('keeps a throttled answer\'s Retry-After on the error, and the retry policy waits that long', async () => {
    retryAfter = '7';
    const error = await rejectionOf(builds().getDefinitions('project', 'churn-model'));
    assert.equal((error as { statusCode?: number }).statusCode, 429);
    assert.equal(retryAfterOf(error), 7000);
    assert.equal(backoffDelay(retryPolicy({ baseDelayMs: 100, maxRetryAfterMs: 60_000 }), 1, error, () => 1), 7000);
  });

  it('leaves the pause to the back-off when the answer asks for none', async () => {
    retryAfter = undefined;
    const error = await rejectionOf(builds().getDefinitions('project', 'churn-model'));
    assert.equal((error as { statusCode?: number }).statusCode, 429);
    assert.equal(retryAfterOf(error), undefined);
    assert.equal(backoffDelay(retryPolicy({ baseDelayMs: 100, maxRetryAfterMs: 60_000 }), 1, error, () => 1), 100);
  });
});
