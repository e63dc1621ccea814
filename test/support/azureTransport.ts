/**
 * How tests send Azure SDK and Azure DevOps calls: the direct test network and a quick retry
 * policy (three attempts, short pauses), so a retried failure costs milliseconds.
 */
import type { AzureTransport } from '../../tasks/common/azure/transport';
import { type RetryPolicy, retryPolicy } from '../../tasks/common/net/retry';
import { testNetwork } from './services';

export const quickRetry: RetryPolicy = retryPolicy({ attempts: 3, baseDelayMs: 20, maxDelayMs: 200 });

export function testTransport(retry: RetryPolicy = quickRetry): AzureTransport {
  return { network: testNetwork, retry };
}
