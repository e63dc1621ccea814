/**
 * Server-side apply, as `kubectl apply --server-side --force-conflicts` does it: the API server
 * merges our fields and records us as their manager, so re-applying the same objects is a no-op.
 */
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { INPUT_SLOT, SettingError, TaskError } from '../errors';
import type { Log } from '../log';
import { type CallOptions, KubeApiError, kubeCall, kubeRead } from './apiCall';
import { apiResource, type Cluster } from './cluster';
import { MANAGED_BY_LABEL, MANAGER } from './generate';
import type { KubeObject } from './types';

export interface ApplyOptions {
  /** Given to namespaced objects that name none. */
  readonly namespace: string;
  readonly log: Log;
  readonly retry?: CallOptions['retry'];
}

export interface RegistryCredentials {
  readonly registry: string;
  readonly username: string;
  readonly password: string;
}

/** "Deployment 'app' in namespace 'prod'", for messages. */
export function describeObject(object: KubeObject): string {
  const name = object.metadata?.name ?? '(unnamed)';
  return object.metadata?.namespace ? `${object.kind} '${name}' in namespace '${object.metadata.namespace}'` : `${object.kind} '${name}'`;
}

/**
 * The object as it will be applied: namespaced kinds get the default namespace, cluster-scoped kinds
 * lose any namespace (kubectl ignores it too). A kind the cluster does not serve fails here, before
 * anything was applied, naming the document.
 */
async function placed(cluster: Cluster, object: KubeObject, options: ApplyOptions): Promise<KubeObject> {
  if (!object.metadata?.name) throw new TaskError('KubeObjectNoName', [object.kind, object.apiVersion]);
  let resource;
  try {
    resource = await kubeCall(cluster, `look up kind ${object.kind} in ${object.apiVersion}`,
      () => apiResource(cluster, object.apiVersion, object.kind), { log: options.log, retry: options.retry });
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 404)) throw error;
    throw new TaskError('KubeUnknownKind', [describeObject(object), object.kind, object.apiVersion, `the API server does not serve ${object.apiVersion}`]);
  }
  if (!resource) throw new TaskError('KubeUnknownKind', [describeObject(object), object.kind, object.apiVersion, `${object.apiVersion} has no kind ${object.kind}`]);
  const { namespace: _ignored, ...metadata } = object.metadata;
  const namespace = resource.namespaced ? object.metadata.namespace ?? options.namespace : undefined;
  return { ...object, metadata: namespace ? { ...metadata, namespace } : metadata };
}

/** Applies one object (already placed) and returns what the server holds afterwards. */
async function applyPlaced(cluster: Cluster, object: KubeObject, options: ApplyOptions): Promise<KubeObject> {
  const callOptions: CallOptions = { log: options.log, namespace: object.metadata?.namespace, retry: options.retry };
  // force: after `kubectl rollout undo` the kubectl manager owns the image; we take it back as kubectl --force-conflicts would.
  const applied = await kubeCall(cluster, `apply ${describeObject(object)}`,
    () => cluster.objects.patch(object as KubernetesObject, undefined, undefined, MANAGER, true, PatchStrategy.ServerSideApply), callOptions);
  return applied as unknown as KubeObject;
}

/**
 * Applies every object in order and returns the server's copies, in the same order. Kinds are all
 * checked first, so a typo in the last document leaves the cluster untouched.
 */
export async function applyObjects(cluster: Cluster, objects: readonly KubeObject[], options: ApplyOptions): Promise<KubeObject[]> {
  const ready: KubeObject[] = [];
  for (const object of objects) ready.push(await placed(cluster, object, options));
  const applied: KubeObject[] = [];
  for (const object of ready) {
    const result = await applyPlaced(cluster, object, options);
    const { name, namespace } = object.metadata ?? {};
    if (namespace) options.log.info('DeployApplied', object.kind, name, namespace);
    else options.log.info('DeployAppliedClusterScoped', object.kind, name);
    applied.push(result);
  }
  return applied;
}

/**
 * Makes sure the namespace exists. Creates it when allowed (by apply, so a concurrent run creating
 * it too is harmless); otherwise a failure of setting 'namespace'. Returns whether it was created.
 */
export async function ensureNamespace(cluster: Cluster, name: string, create: boolean, log: Log): Promise<boolean> {
  const options: CallOptions = { log, namespace: name };
  let existing;
  try {
    existing = await kubeRead(cluster, `read namespace '${name}'`, () => cluster.core.readNamespace({ name }), options);
  } catch (error) {
    // A deployer bound to one namespace may not read namespace objects: let the apply itself tell.
    if (!(error instanceof KubeApiError && error.status === 403)) throw error;
    log.debug(`cannot read namespace ${name} (403); assuming it exists`);
    return false;
  }
  if (existing) return false;
  if (!create) throw new SettingError('namespace', 'DeployNamespaceMissing', [INPUT_SLOT, name, name]);
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [MANAGED_BY_LABEL]: MANAGER } } };
  await applyPlaced(cluster, namespace, { namespace: name, log });
  log.info('DeployNamespaceCreated', name);
  return true;
}

/** The .dockerconfigjson of a registry login, as `kubectl create secret docker-registry` writes it. */
export function dockerConfigJson({ registry, username, password }: RegistryCredentials): string {
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [registry]: { username, password, auth } } });
}

/** Creates or updates a kubernetes.io/dockerconfigjson Secret; the caller references it from pods. */
export async function applyPullSecret(cluster: Cluster, namespace: string, name: string, credentials: RegistryCredentials, log: Log): Promise<void> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGER } },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(dockerConfigJson(credentials)).toString('base64') },
  };
  try {
    await applyPlaced(cluster, secret, { namespace, log });
  } catch (error) {
    throw withoutSecrets(error, [credentials.password, secret.data['.dockerconfigjson'], dockerConfigJson(credentials)]);
  }
  log.info('DeployPullSecretApplied', name, credentials.registry, namespace);
}

/** The same error with any echo of the secret's values cut from its arguments (a server may quote invalid values). */
function withoutSecrets(error: unknown, secrets: readonly string[]): unknown {
  if (!(error instanceof KubeApiError)) return error;
  const scrub = (text: string) => secrets.reduce((result, secret) => (secret ? result.split(secret).join('***') : result), text);
  const clean = new KubeApiError(error.key, error.args.map((arg) => (typeof arg === 'string' ? scrub(arg) : arg)));
  clean.status = error.status;
  return clean;
}
