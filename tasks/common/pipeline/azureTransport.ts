import type { AzureTransport } from '../azure/transport';
import { type RetryPolicy, retryPolicy } from '../net/retry';
import type { Agent } from './agent';

/** How a task's Azure clients send: the agent's network and cancel, and the given (or default) retry policy. */
export function azureTransportOf(agent: Agent, retry: RetryPolicy = retryPolicy()): AzureTransport {
  return { network: agent.network(), signal: agent.lifetime.signal, retry, log: agent.log };
}
