/**
 * The one place a KubeconfigError becomes a message. The same problem reads differently by where
 * the kubeconfig came from (KubeconfigOrigin): the user's Kubernetes service connection (name the
 * connection and how to fix it there), a kubeconfig handed over as such (name the file's own
 * contexts), or the credentials AKS issued for a cluster (name the connection, resource group and
 * cluster settings they came through, and say AKS issued them: nothing the user typed is wrong).
 */
import { INPUT_SLOT, SettingError, settingSlot, type TaskError } from '../errors';
import type { MessageKey } from '../messages';
import type { KubeconfigError, KubeconfigOrigin, KubeconfigProblem } from './kubeconfig';

export type { KubeconfigOrigin } from './kubeconfig';

/**
 * The settings a kubeconfig failure names (messages say INPUT_SLOT for its input): 'clusterConnection'
 * for a service connection's, 'kubeconfig' for one handed over as such, 'cluster' (with
 * 'clusterConnection', 'resourceGroup' and 'useClusterAdmin' in settingSlots) for AKS's.
 */
export type KubeconfigSetting = 'clusterConnection' | 'kubeconfig' | 'cluster';

const MESSAGES: Readonly<Record<'serviceConnection' | 'kubeconfig', Readonly<Record<KubeconfigProblem, MessageKey>>>> = {
  serviceConnection: {
    noContext: 'KubeConnectionNoContext', contextMissing: 'KubeConnectionContextMissing', shellCommand: 'KubeConnectionCmdPathRefused', invalid: 'KubeConnectionKubeconfigInvalid',
    server: 'KubeConnectionServerNotHttps', proxy: 'KubeConnectionProxyUnsupported', credentials: 'KubeConnectionCredentialsFailed',
  },
  kubeconfig: {
    noContext: 'KubeconfigNoCurrentContext', contextMissing: 'KubeconfigContextMissing', shellCommand: 'KubeconfigCmdPathRefused', invalid: 'KubeconfigMalformed',
    server: 'KubeconfigServerInvalid', proxy: 'KubeconfigProxyUnsupported', credentials: 'KubeconfigCredentialsFailed',
  },
};

/** The credentials AKS issued: the failure of the cluster setting, naming the other settings they came through. */
function aksFailure(error: KubeconfigError, origin: Extract<KubeconfigOrigin, { kind: 'aks' }>): TaskError {
  const through = [settingSlot('clusterConnection'), settingSlot('resourceGroup'), INPUT_SLOT];
  const details = [origin.cluster, origin.resourceGroup, origin.connection, origin.admin ? 'admin' : 'user', error.reason, settingSlot('useClusterAdmin')];
  return new SettingError<KubeconfigSetting>('cluster', 'AksCredentialsUnusable', [...through, ...details], { cause: error });
}

export function kubeconfigFailure(error: KubeconfigError, origin: KubeconfigOrigin): TaskError {
  if (origin.kind === 'aks') return aksFailure(error, origin);
  const fromConnection = origin.kind === 'serviceConnection';
  // A connection's message lists its contexts to choose from; the file's, quoted as in the file.
  const contexts = error.contexts.map((name) => (fromConnection ? name : `'${name}'`)).join(', ') || '(none)';
  const details: Readonly<Record<KubeconfigProblem, readonly unknown[]>> = {
    noContext: [contexts],
    contextMissing: [error.subject[0], contexts],
    shellCommand: error.subject,
    invalid: [error.reason],
    server: error.subject,
    proxy: error.subject,
    credentials: error.subject,
  };
  const named = fromConnection ? [INPUT_SLOT, origin.connection] : [INPUT_SLOT];
  const setting: KubeconfigSetting = fromConnection ? 'clusterConnection' : 'kubeconfig';
  return new SettingError(setting, MESSAGES[origin.kind][error.problem], [...named, ...details[error.problem]], { cause: error });
}
