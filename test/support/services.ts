/**
 * What a core call needs besides its options, as tests give it: the network layer with no proxy
 * (one per test process: its idle connections do not keep the process alive), and a lifetime the
 * test owns, so it can cancel and check what was left behind.
 */
import { OwnedLifetime } from '../../tasks/common/lifetime';
import { Network } from '../../tasks/common/net/network';

export const testNetwork = new Network();

export function testServices(): { readonly network: Network; readonly lifetime: OwnedLifetime } {
  return { network: testNetwork, lifetime: new OwnedLifetime() };
}
