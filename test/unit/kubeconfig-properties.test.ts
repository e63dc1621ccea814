/**
 * Property-based tests of kubeconfig parsing (kube/kubeconfig.ts), the parser that reads a service
 * connection's text: whatever the text, parseKubeconfig and selectContext fail only with a
 * KubeconfigError, and its reason never carries a value of the file (tokens, passwords, keys,
 * servers, commands). Kubeconfigs are generated, written in block and flow style, then damaged by
 * one character.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import { KubeconfigError, kubeconfigSecrets, parseKubeconfig, selectContext } from '../../tasks/common/kube/kubeconfig';

const name = fc.constantFrom('prod', 'staging', 'dev', 'ci', 'admin', 'deployer');
/** Every value of the file carries a marker, so an echo of any of them is found. */
const marker = fc.stringMatching(/^[A-Za-z0-9]{8,16}$/).map((text) => `VAL${text}`);

const cluster = fc.record({
  name,
  cluster: fc.record({
    server: fc.oneof(marker.map((value) => `https://${value.toLowerCase()}.example:443`), marker),
    'certificate-authority-data': fc.option(marker, { nil: undefined }),
    'proxy-url': fc.option(marker.map((value) => `http://user:${value}@proxy:3128`), { nil: undefined }),
  }, { requiredKeys: ['server'] }),
});

const credential = fc.oneof(
  fc.record({ token: marker }),
  fc.record({ username: marker, password: marker }),
  fc.record({ 'client-certificate-data': marker, 'client-key-data': marker }),
  fc.record({ exec: fc.record({ apiVersion: fc.constant('client.authentication.k8s.io/v1'), command: marker, args: fc.array(marker, { maxLength: 3 }), env: fc.array(fc.record({ name: fc.constant('SECRET'), value: marker }), { maxLength: 2 }) }) }),
  fc.record({ 'auth-provider': fc.record({ name: fc.constantFrom('oidc', 'gcp', 'azure'), config: fc.record({ 'id-token': marker, 'refresh-token': marker, 'cmd-path': fc.option(marker, { nil: undefined }) }, { requiredKeys: ['id-token'] }) }) }),
);

function kubeconfigs(minLength: number) {
  return fc.record({
    apiVersion: fc.constant('v1'),
    kind: fc.constantFrom('Config', undefined),
    clusters: fc.array(cluster, { minLength, maxLength: 3 }),
    users: fc.array(fc.record({ name, user: credential }), { minLength, maxLength: 3 }),
    contexts: fc.array(fc.record({ name, context: fc.record({ cluster: name, user: name, namespace: fc.option(marker, { nil: undefined }) }, { requiredKeys: ['cluster', 'user'] }) }), { minLength, maxLength: 3 }),
    'current-context': fc.option(name, { nil: undefined }),
  }, { requiredKeys: ['apiVersion', 'clusters', 'users', 'contexts'] });
}
const kubeconfig = kubeconfigs(0);

/** A generated kubeconfig made consistent: its first context is current, and names what exists (first of a name wins, as in kubectl). */
const usableKubeconfig = kubeconfigs(1).map((config) => {
  const [first, ...others] = config.contexts;
  const context = { ...first, context: { ...first.context, cluster: config.clusters[0].name, user: config.users[0].name } };
  const clusters = [{ ...config.clusters[0], cluster: { ...config.clusters[0].cluster, server: `https://${markersIn(config.clusters[0])[0] ?? 'x'}.example` } }, ...config.clusters.slice(1)];
  const given = config.users[0].user as Record<string, any>;
  const safe = given['auth-provider'] ? { ...given, 'auth-provider': { ...given['auth-provider'], config: { ...given['auth-provider'].config, 'cmd-path': undefined } } } : given;
  return { ...config, clusters, users: [{ ...config.users[0], user: safe }, ...config.users.slice(1)], contexts: [context, ...others.filter((entry) => entry.name !== first.name)], 'current-context': first.name };
});

/** One character changed anywhere, or put in front of a value (where it makes an alias, a tag or a quote of it). */
type Damage = { readonly at: number; readonly kind: 'insert' | 'delete' | 'replace' | 'beforeValue'; readonly character: string };
const damage: fc.Arbitrary<Damage | undefined> = fc.option(fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('insert', 'delete', 'replace', 'beforeValue'),
  character: fc.constantFrom(':', '-', '[', ']', '{', '}', '"', "'", '\n', ' ', '&', '*', '!', '#', '|', '>', '%', '@', '`', ',', '?', '\t', 'x'),
}), { nil: undefined });

function damaged(text: string, change: Damage | undefined): string {
  if (!change || text.length === 0) return text;
  if (change.kind === 'beforeValue') {
    const starts = [...text.matchAll(/VAL/g)].map((match) => match.index ?? 0);
    const at = starts.length > 0 ? starts[change.at % starts.length] : 0;
    return `${text.slice(0, at)}${change.character}${text.slice(at)}`;
  }
  const at = change.at % text.length;
  if (change.kind === 'insert') return `${text.slice(0, at)}${change.character}${text.slice(at)}`;
  if (change.kind === 'delete') return `${text.slice(0, at)}${text.slice(at + 1)}`;
  return `${text.slice(0, at)}${change.character}${text.slice(at + 1)}`;
}

/** Every string in the value that carries a marker. */
function markersIn(value: unknown, found: string[] = []): string[] {
  if (typeof value === 'string') for (const match of value.matchAll(/VAL[A-Za-z0-9]{8,16}/gi)) found.push(match[0]);
  else if (value && typeof value === 'object') for (const child of Object.values(value)) markersIn(child, found);
  return found;
}

/** parse + select; returns the error, or undefined when the file was usable. */
function tryToUse(text: string): unknown {
  try {
    selectContext(parseKubeconfig(text), undefined);
    return undefined;
  } catch (error) {
    return error;
  }
}

function assertQuiet(error: unknown, values: readonly string[]): void {
  if (error === undefined) return;
  assert.ok(error instanceof KubeconfigError, `not a KubeconfigError: ${String((error as Error)?.stack ?? error)}`);
  for (const value of values) {
    assert.ok(!error.reason.toLowerCase().includes(value.toLowerCase()), `the reason echoes a value: ${error.reason}`);
    assert.ok(!error.message.toLowerCase().includes(value.toLowerCase()), `the message echoes a value: ${error.message}`);
  }
}

describe('kubeconfig parsing (property-based)', () => {
  it('a generated kubeconfig, damaged by one character or not, fails only with a KubeconfigError that echoes no value', () => {
    fc.assert(fc.property(kubeconfig, fc.constantFrom(-1, 0, 1, 2, 3), damage, (config, flowLevel, change) => {
      const text = damaged(dump(config, { flowLevel, lineWidth: -1 }), change);
      assertQuiet(tryToUse(text), markersIn(config));
    }), { numRuns: 600 });
  });

  it('any text at all fails only with a KubeconfigError', () => {
    const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: fc.constantFrom(...'{}[]:-&*!|>#\'"\n ,?%@abc12'), maxLength: 200 }));
    fc.assert(fc.property(anyText, (text) => assertQuiet(tryToUse(text), [])), { numRuns: 1000 });
  });

  it('an undamaged kubeconfig whose references hold is usable, and every credential in it is found for masking', () => {
    fc.assert(fc.property(usableKubeconfig, (config) => {
      const document = parseKubeconfig(dump(config));
      assert.equal(selectContext(document, undefined).server, config.clusters[0].cluster.server);
      const credentials = config.users.flatMap(({ user: given }) => {
        const fields = given as Record<string, any>;
        return markersIn([fields.token, fields.password, fields['client-key-data'], fields.exec?.env, fields['auth-provider']?.config?.['id-token'], fields['auth-provider']?.config?.['refresh-token']]);
      });
      const secrets = kubeconfigSecrets(document);
      for (const value of credentials) assert.ok(secrets.some((secret) => secret.includes(value)), `not registered: ${value}`);
    }), { numRuns: 300 });
  });
});
