/**
 * Which task input carries each setting the core may name in a SettingError. The core speaks of
 * settings (a store's credential, its container, the destination); each task's input reader knows
 * which input held each one in this run (connectionString, sasUrl or azureSubscription for the
 * same credential) and returns that table with the inputs; the task runner applies it to a
 * failure before it reports it.
 */
import { SettingError } from '../errors';
import { slotSetting } from '../messages';
import { InputError } from './inputError';

export { INPUT_SLOT } from '../errors';

/** Setting name -> the input that carried it in this run. */
export type SettingInputs = Readonly<Record<string, string>>;

/** What every task's input reader returns besides its own values. */
export interface WithSettings {
  readonly settings: SettingInputs;
}

/** A SettingError as the InputError that names the input behind it; anything else as it is. */
export function asInputError(error: unknown, settings: SettingInputs): unknown {
  if (!(error instanceof SettingError)) return error;
  // A setting this task does not map is a bug of ours: name the setting rather than nothing.
  const input = settings[error.setting] ?? error.setting;
  // Other settings the message names (settingSlot), by their inputs in this run too.
  const args = error.args.map((arg) => {
    const setting = slotSetting(arg);
    return setting === undefined ? arg : (settings[setting] ?? setting);
  });
  return new InputError(input, error.key, args, { cause: error });
}

/**
 * Runs part of an input reader, reporting a SettingError it raises as the input that carries the
 * setting: a failure while reading (a service connection the core checks) comes before the reader
 * has returned its table to runTask.
 */
export function readingInputs<T>(settings: SettingInputs, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw asInputError(error, settings);
  }
}
