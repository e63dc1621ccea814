/**
 * The message for a network failure that no client turned into one of its own: each typed error
 * of the network layer becomes a catalog message that names the peer and says what to check. The
 * task runner applies it last, so no failure reaches the user as a bare stack or socket code.
 */
import { RemoteError, TaskError } from '../errors';
import { BodyTooLargeError, CredentialScopeError, HttpStatusError, NetworkError, ProxyError, StoppedError } from './errors';

function trustProblem(code: string): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT/.test(code);
}

export function explainFailure(error: unknown): unknown {
  if (error instanceof TaskError) return error;
  const options = { cause: error };
  if (error instanceof StoppedError) return new TaskError(error.reason === 'cancelled' ? 'TaskCancelled' : 'TaskTimedOut', [error.message], options);
  if (error instanceof ProxyError) return new RemoteError('ProxyRefused', [error.proxy, error.status, error.target], options);
  if (error instanceof CredentialScopeError) return new RemoteError('CredentialScopeRefused', [error.from, error.to, error.why], options);
  if (error instanceof BodyTooLargeError) return new RemoteError('PeerBodyTooLarge', [error.peer, error.what, error.limit], options);
  if (error instanceof HttpStatusError) return new RemoteError('PeerRefused', [error.peer, error.status, error.detail || '(no details)'], options);
  if (error instanceof NetworkError) {
    if (error.phase) return new RemoteError('PeerDeadline', [error.peer, error.message], options);
    if (trustProblem(error.code)) return new RemoteError('PeerCertificateUntrusted', [error.peer, error.code], options);
    return new RemoteError('PeerUnreachable', [error.peer, error.code, error.message], options);
  }
  return error;
}
