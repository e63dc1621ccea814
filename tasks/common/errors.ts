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

/** Where a SettingError's message names the input that carries the setting; pipeline/ fills it in. */
export const INPUT_SLOT = '{input}';

/**
 * A failure the user fixes by changing one setting, told in the core's own terms: `setting` names
 * what to change (the model store's container, the destination, the cluster's namespace), never
 * the task input behind it, which differs between tasks and connection types. Its message says
 * `{input}` where the input's name belongs: pipeline/ knows which input carries the setting in this
 * run (see pipeline/settings.ts) and turns the failure into an InputError that names it.
 */
export class SettingError<S extends string = string> extends TaskError {
  constructor(
    readonly setting: S,
    key: MessageKey,
    args: readonly unknown[] = [],
    options?: { cause?: unknown },
  ) {
    super(key, args, options);
  }
}

/** A task input has a value we cannot use. Always names the input, the value and what is accepted. */
export class InputError extends TaskError {
  constructor(
    readonly input: string,
    key: MessageKey,
    args: readonly unknown[],
    options?: { cause?: unknown },
  ) {
    super(key, args, options);
    // Messages of SettingErrors keep a slot for the input's name (pipeline/settings.ts).
    this.message = this.message.replaceAll(INPUT_SLOT, input);
  }
}

/** A remote service (storage, ARM, Entra ID) refused or failed after retries. */
export class RemoteError extends TaskError {}

/** Downloaded bytes do not match what the store says they should be. */
export class IntegrityError extends TaskError {}
