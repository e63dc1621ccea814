import { format, type MessageKey } from './messages';

/**
 * Every failure the core reports is a TaskError: a message key from the catalog plus its
 * arguments, so the pipeline layer can localize it and tests can assert on the key.
 */
export class TaskError extends Error {
  readonly key: MessageKey;
  readonly args: readonly unknown[];
  constructor(key: MessageKey, args: readonly unknown[] = [], options?: { cause?: unknown }) {
    super(format(key, ...args), options);
    this.name = new.target.name;
    this.key = key;
    this.args = args;
  }
}

/** A task input has a value we cannot use. Always names the input, the value and what is accepted. */
export class InputError extends TaskError {
  constructor(
    readonly input: string,
    key: MessageKey,
    args: readonly unknown[],
  ) {
    super(key, args);
  }
}

/** A remote service (storage, ARM, Entra ID) refused or failed after retries. */
export class RemoteError extends TaskError {}

/** Downloaded bytes do not match what the store says they should be. */
export class IntegrityError extends TaskError {}
