/**
 * The one place a KubeconfigError becomes a message. The same problem reads differently by where
 * the kubeconfig came from: the user's Kubernetes service connection (name the connection and how
 * to fix it there), the kubeconfig the task connects with (name the file's own contexts), or the
 * credentials AKS handed out (not the user's to fix: a remote failure).
 */
import { INPUT_SLOT, RemoteError, SettingError, type TaskError } from '../errors';
import type { MessageKey } from '../messages';
import type { KubeconfigError, KubeconfigProblem } from './kubeconfig';

export type KubeconfigOrigin =
  /** Read from a service connection, named as the user typed it; a failure of setting 'clusterConnection'. */
  | { readonly kind: 'serviceConnection'; readonly connection: string }
  /** Handed to connectCluster; a failure of setting 'kubeconfig'. */
  | { readonly kind: 'kubeconfig' }
  | { readonly kind: 'aks'; readonly cluster: string; readonly resourceGroup: string };

/** The settings a kubeconfig failure names (messages say INPUT_SLOT for its input). */
export type KubeconfigSetting = 'clusterConnection' | 'kubeconfig';

const MESSAGES: Readonly<Record<'serviceConnection' | 'kubeconfig', Readonly<Record<KubeconfigProblem, MessageKey>>>> = {
  serviceConnection: { noContext: 'KubeConnectionNoContext', contextMissing: 'KubeConnectionContextMissing', shellCommand: 'KubeConnectionCmdPathRefused', invalid: 'KubeConnectionKubeconfigInvalid' },
  kubeconfig: { noContext: 'KubeconfigNoCurrentContext', contextMissing: 'KubeconfigContextMissing', shellCommand: 'KubeconfigCmdPathRefused', invalid: 'KubeconfigMalformed' },
};

export function kubeconfigFailure(error: KubeconfigError, origin: KubeconfigOrigin): TaskError {
  if (origin.kind === 'aks') return new RemoteError('AksCredentialsInvalid', [origin.cluster, origin.resourceGroup, error.reason]);
  const fromConnection = origin.kind === 'serviceConnection';
  // A connection's message lists its contexts to choose from; the file's, quoted as in the file.
  const contexts = error.contexts.map((name) => (fromConnection ? name : `'${name}'`)).join(', ') || '(none)';
  const details: Readonly<Record<KubeconfigProblem, readonly unknown[]>> = {
    noContext: [contexts],
    contextMissing: [error.subject[0], contexts],
    shellCommand: error.subject,
    invalid: [error.reason],
  };
  const named = fromConnection ? [INPUT_SLOT, origin.connection] : [INPUT_SLOT];
  const setting: KubeconfigSetting = fromConnection ? 'clusterConnection' : 'kubeconfig';
  return new SettingError(setting, MESSAGES[origin.kind][error.problem], [...named, ...details[error.problem]]);
}
