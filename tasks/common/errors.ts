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

export { INPUT_SLOT, settingSlot } from './messages';

/**
 * A failure the user fixes by changing one setting, told in the core's own terms: `setting` names
 * what to change (the model store's container, the destination, the cluster's namespace), never
 * the task input behind it, which differs between tasks and connection types. Its message says
 * the input slot (INPUT_SLOT) where the input's name belongs: pipeline/ knows which input carries the setting in this
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

/** A remote service (storage, ARM, Entra ID) refused or failed after retries. */
export class RemoteError extends TaskError {}

/** Downloaded bytes do not match what the store says they should be. */
export class IntegrityError extends TaskError {}
